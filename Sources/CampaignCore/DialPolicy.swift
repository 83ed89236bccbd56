/// The business rules re-checked at `jobs.dialing` for one customer at one moment.
///
/// Issue 4 grows this into the full eligibility policy (working hours, caps, cooldown); the
/// rules here are the ones that already hold: only ACTIVE customers with a valid number are called.
public enum DialPolicy {
    public static func verdict(customerStatus: CustomerStatus, phone: String) -> JobStateMachine.DialVerdict {
        if customerStatus != .active {
            return .refused(rule: "customer_" + customerStatus.rawValue.lowercased())
        }
        if !PhoneNumber.isValidE164(phone) {
            return .refused(rule: "invalid_phone")
        }
        return .allowed
    }
}
