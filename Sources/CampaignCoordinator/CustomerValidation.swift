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
        var consentJSON: String?
        if let k = c.consent {
            let basis = k.basis.trimmingCharacters(in: .whitespaces)
            guard (1...100).contains(basis.utf8.count) else { return .failure(Problem(message: "consent.basis must be 1…100 bytes")) }
            guard Timestamp.parse(k.obtainedAt) != nil else {
                return .failure(Problem(message: "consent.obtainedAt must be an RFC 3339 time"))
            }
            guard (k.source?.utf8.count ?? 0) <= 200, (k.proof?.utf8.count ?? 0) <= 2000 else {
                return .failure(Problem(message: "consent.source must be at most 200 bytes, consent.proof at most 2000"))
            }
            let stored = Consent(
                basis: basis, obtainedAt: Timestamp.string(Timestamp.parse(k.obtainedAt)!), source: k.source, proof: k.proof)
            consentJSON = String(decoding: (try? JSONEncoder().encode(stored)) ?? Data("{}".utf8), as: UTF8.self)
        }
        return .success(
            ValidCustomer(
                externalRef: ref, name: name, phone: phone, timezone: tz, status: c.status,
                attributesJSON: attributesJSON, region: region, consentJSON: consentJSON))
    }
}
