import CampaignCore
import CampaignProtocol
import Foundation

/// What the rules need to know of one customer, as the database holds it: read with a job the
/// pre-dial check locks, or alone by `customers.explain`. Both build the policy's input here, so
/// "why not now?" is the check's own answer, not a second implementation of it.
struct CustomerFacts {
    var status: CustomerStatus
    var phone: String
    var timezone: String
    /// The stated region (ISO 3166-2).
    var region: String?
    var lastCalledEpoch: Double?
    /// The starts of the calls to the number in the last three days (seconds since 1970).
    var numberCalls: [Double]
    var suppressed: Bool
    var hasConsent: Bool

    /// The policy's view of the customer at `now` under `campaign`'s caps, with the law's floor
    /// where the customer is; `alsoCalledNow` more calls to the number are counted at `now`
    /// (those a batch admitted before). Nil when the timezone is unknown to Foundation.
    func policyCustomer(
        campaign: CampaignRules, now: Date, alsoCalledNow: Int = 0, floors: inout Jurisdictions.FloorCache
    ) -> (customer: EligibilityPolicy.Customer, floor: JurisdictionFloor, cap: NumberFrequencyCap)? {
        guard let tz = TimeZone(identifier: self.timezone) else { return nil }
        let floor = floors.floor(phone: self.phone, stated: self.region)
        let cap = NumberFrequencyCap.combined(
            legal: floor.callsPer24h, operator: campaign.numberCap.per24h, perLocalDay: campaign.numberCap.perLocalDay)
        var freeAt: Date?
        if cap != .none {
            let at = now.flooredToMicroseconds
            let calls = self.numberCalls.map { Date(timeIntervalSince1970: $0) } + repeatElement(at, count: alsoCalledNow)
            freeAt = cap.nextAllowed(after: at, calls: calls, in: tz)
        }
        var customer = EligibilityPolicy.Customer(
            status: self.status, phone: self.phone, timeZone: tz,
            lastCalledAt: self.lastCalledEpoch.map { Date(timeIntervalSince1970: $0) }, jurisdictionHours: floor.hours,
            numberFreeAt: freeAt)
        customer.suppressed = self.suppressed
        customer.hasConsent = self.hasConsent
        return (customer, floor, cap)
    }
}

extension LockedJob {
    /// The customer's facts as the lock read them (a number suppressed by an opt-out of the same
    /// batch is marked by the caller).
    var customerFacts: CustomerFacts {
        CustomerFacts(
            status: self.customerStatus, phone: self.phone, timezone: self.timezone, region: self.region,
            lastCalledEpoch: self.lastCalledEpoch, numberCalls: self.numberCalls, suppressed: self.suppressed,
            hasConsent: self.hasConsent)
    }
}
