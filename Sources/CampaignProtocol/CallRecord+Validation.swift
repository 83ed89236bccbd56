import Foundation

extension CallRecord {
    /// What is wrong with this call record, or nil. Checked before a report joins a batch: a bad
    /// value must be refused for this one request (VALIDATION_FAILED), not fail the batch's
    /// transaction for everyone.
    public var problem: String? {
        guard (1...64).contains(self.provider.utf8.count) else { return "call.provider must be 1…64 bytes" }
        guard (self.providerCallId?.utf8.count ?? 0) <= 200 else { return "call.providerCallId must be at most 200 bytes" }
        guard (1...300).contains(self.idempotencyKey.utf8.count) else { return "call.idempotencyKey must be 1…300 bytes" }
        var instants: [String: Date] = [:]
        for (name, value) in [("startedAt", self.startedAt), ("endedAt", self.endedAt)] {
            guard let value else { continue }
            guard let date = Timestamp.parse(value) else {
                return "call.\(name) must be an RFC 3339 timestamp with a timezone, like 2026-11-29T10:15:00.250Z"
            }
            instants[name] = date
        }
        if let s = instants["startedAt"], let e = instants["endedAt"], e < s { return "call.endedAt is before call.startedAt" }
        if let d = self.durationMs, !(0...86_400_000).contains(d) { return "call.durationMs must be 0…86400000" }
        if let detail = self.detail {
            guard case .object = detail else { return "call.detail must be a JSON object" }
            guard detail.jsonByteCount <= 16 * 1024 else {
                return "call.detail must be at most 16 KiB of JSON"
            }
        }
        return nil
    }
}
