/// The key of one attempt of one job, `<queueJobId>#<attempt>`: what the provider deduplicates
/// calls by, and what a call log names its attempt with. A queue job id may itself hold a `#`,
/// so a key is read back only against the job it should belong to (``attempt(of:queueJobId:)``).
public struct IdempotencyKey: Hashable, Sendable, CustomStringConvertible {
    public let queueJobId: String
    public let attempt: Int

    public init(queueJobId: String, attempt: Int) {
        self.queueJobId = queueJobId
        self.attempt = attempt
    }

    public var description: String { "\(self.queueJobId)#\(self.attempt)" }

    /// The attempt `key` names for the job `queueJobId`; nil when it is not a key of that job
    /// (another job's, no attempt number, or an attempt below 1).
    public static func attempt(of key: String, queueJobId: String) -> Int? {
        let prefix = queueJobId + "#"
        guard key.hasPrefix(prefix), let attempt = Int(key.dropFirst(prefix.count)), attempt >= 1 else { return nil }
        return attempt
    }
}
