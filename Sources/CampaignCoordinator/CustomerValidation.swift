import CampaignCore
import CampaignProtocol
import CampaignStore
import Foundation

/// Checks and normalises one customer row before it is written.
enum CustomerValidation {
    struct Problem: Error, Equatable {
        var message: String
    }

    /// - Parameter knownTimezones: names both Foundation and PostgreSQL know (nil: Foundation's).
    static func validate(_ c: CustomerInput, knownTimezones: Set<String>? = nil) -> Result<ValidCustomer, Problem> {
        let ref = c.externalRef.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(ref.utf8.count) else { return .failure(Problem(message: "externalRef must be 1…200 bytes")) }
        guard let phone = PhoneNumber.normalize(c.phone) else {
            return .failure(Problem(message: "phone is not a valid international (E.164) number"))
        }
        let tz = c.timezone.trimmingCharacters(in: .whitespaces)
        guard tz.contains("/") || tz == "UTC", TimeZone(identifier: tz) != nil, knownTimezones?.contains(tz) ?? true else {
            return .failure(Problem(message: "unknown IANA timezone \"\(tz.prefix(64))\""))
        }
        var attributesJSON: String?
        if let a = c.attributes {
            guard case .object = a else { return .failure(Problem(message: "attributes must be a JSON object")) }
            attributesJSON = String(decoding: (try? JSONEncoder().encode(a)) ?? Data("{}".utf8), as: UTF8.self)
        }
        let name = (c.name ?? "").trimmingCharacters(in: .whitespaces)
        guard name.utf8.count <= 200 else { return .failure(Problem(message: "name must be at most 200 bytes")) }
        var region: String?
        if let r = c.region?.trimmingCharacters(in: .whitespaces).uppercased(), !r.isEmpty {
            guard Jurisdictions.isRegionCode(r) else {
                return .failure(Problem(message: "region \"\(r.prefix(16))\" is not an ISO 3166-2 code such as US-FL (or a country such as CA)"))
            }
            region = r
        }
        return .success(
            ValidCustomer(
                externalRef: ref, name: name, phone: phone, timezone: tz, status: c.status,
                attributesJSON: attributesJSON, region: region))
    }
}
