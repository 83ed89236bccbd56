/// The queue job id of a job `automation.run` enqueues, `<customer externalRef>:<campaign-local
/// date YYYY-MM-DD>` in the default campaign and `<campaign>/<externalRef>:<date>` in another:
/// one automatic job per customer, campaign and day, whatever runs enqueue it. The
/// enqueue itself is one SQL statement that builds this id in the database
/// (`SQL.AutomationRun`); this type is the format's one statement in Swift, and a test holds
/// the two to the same text.
public struct AutomaticQueueJobID: Hashable, Sendable, CustomStringConvertible {
    public let externalRef: String
    /// `YYYY-MM-DD` in the campaign's timezone.
    public let date: String
    /// The campaign's name; nil for the default campaign.
    public let campaign: String?

    public init(externalRef: String, date: String, campaign: String? = nil) {
        self.externalRef = externalRef
        self.date = date
        self.campaign = campaign
    }

    /// What comes before `<ref>:<date>`: `<campaign>/`, or nothing for the default campaign.
    public static func prefix(campaign: String?) -> String { campaign.map { "\($0)/" } ?? "" }

    public var description: String { "\(Self.prefix(campaign: self.campaign))\(self.externalRef):\(self.date)" }

    /// Whether `queueJobId` has this form (`<something>:<DDDD-DD-DD>`): a manual enqueue may not
    /// take such an id, which automation.run could want for the same customer and day.
    public static func hasForm(_ queueJobId: String) -> Bool {
        let tail = queueJobId.utf8.suffix(11)
        guard tail.count == 11, queueJobId.utf8.count > 11 else { return false }
        let t = Array(tail)
        let digits = [1, 2, 3, 4, 6, 7, 9, 10]
        return t[0] == UInt8(ascii: ":") && t[5] == UInt8(ascii: "-") && t[8] == UInt8(ascii: "-")
            && digits.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(t[$0]) }
    }
}
