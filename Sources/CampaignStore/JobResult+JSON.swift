import CampaignCore
import CampaignProtocol

extension JobResult {
    /// The `result` column's JSON object.
    var json: JSONValue {
        var object: [String: JSONValue] = [:]
        for (key, value) in self.members {
            switch value {
            case .text(let s): object[key] = .string(s)
            case .flag(let b): object[key] = .bool(b)
            }
        }
        return .object(object)
    }
}
