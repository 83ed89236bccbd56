/// The queue job id of a job `automation.run` enqueues, `<customer externalRef>:<campaign-local
/// date YYYY-MM-DD>`: one automatic job per customer and day, whatever runs enqueue it. The
/// enqueue itself is one SQL statement that builds this id in the database
/// (`SQL.automationRun`); this type is the format's one statement in Swift, and a test holds
/// the two to the same text.
public struct AutomaticQueueJobID: Hashable, Sendable, CustomStringConvertible {
    public let externalRef: String
    /// `YYYY-MM-DD` in the campaign's timezone.
    public let date: String

    public init(externalRef: String, date: String) {
        self.externalRef = externalRef
        self.date = date
    }

    public var description: String { "\(self.externalRef):\(self.date)" }
}
