import CampaignCore

// The push event stream: events.subscribe, events.unsubscribe and the events.job notification.

/// `events.subscribe`: from now on the coordinator sends an `events.job` notification on this
/// connection for every job transition (of `campaign`, or of every campaign) after `after`, in
/// `eventId` order. Events come from a durable outbox written in the transaction of each
/// transition, so a client that reconnects with `after` = the last `eventId` it handled (to any
/// coordinator) misses none; it may see one again (at least once).
public enum SubscribeEvents: RPCMethod {
    public static let name = "events.subscribe"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        /// Only this campaign's jobs (absent: every campaign).
        public var campaign: String?
        /// Events after this `eventId` (0: every event still kept). Absent: only events from now on.
        public var after: Int64?
        public init(campaign: String? = nil, after: Int64? = nil) {
            self.campaign = campaign
            self.after = after
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        /// Names this subscription in its notifications and in `events.unsubscribe`.
        public var subscription: Int64
        /// Delivery starts after this eventId (`after`, or the newest event when absent).
        public var after: Int64
        /// The newest eventId when subscribing.
        public var head: Int64
        public init(subscription: Int64, after: Int64, head: Int64) {
            self.subscription = subscription
            self.after = after
            self.head = head
        }
    }
}

/// `events.unsubscribe`: no more notifications of that subscription (those already sent may
/// still arrive before the answer).
public enum UnsubscribeEvents: RPCMethod {
    public static let name = "events.unsubscribe"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        public var subscription: Int64
        public init(subscription: Int64) { self.subscription = subscription }
    }
    public struct Result: Codable, Sendable, Equatable {
        /// False when there was no such subscription on this connection.
        public var unsubscribed: Bool
        public init(unsubscribed: Bool) { self.unsubscribed = unsubscribed }
    }
}

/// `events.list`: the same events, read page by page instead of pushed (scripts, a first
/// catch-up, a client that cannot take notifications).
public enum ListEvents: RPCMethod {
    public static let name = "events.list"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        public var campaign: String?
        /// Events after this eventId (default 0: from the oldest kept).
        public var after: Int64?
        /// 1…1000, default 100. A full page may have more after its last eventId.
        public var limit: Int?
        public init(campaign: String? = nil, after: Int64? = nil, limit: Int? = nil) {
            self.campaign = campaign
            self.after = after
            self.limit = limit
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var events: [JobEvent]
        /// The newest eventId.
        public var head: Int64
        /// The oldest eventId still kept (absent: none kept); retention deleted those before it.
        public var oldest: Int64?
        public init(events: [JobEvent], head: Int64, oldest: Int64?) {
            self.events = events
            self.head = head
            self.oldest = oldest
        }
    }
}

/// One job transition, as the outbox recorded it: the params of an `events.job` notification.
public struct JobEvent: Codable, Sendable, Equatable {
    /// Position in the stream: increasing, each job's transitions in their order.
    public var eventId: Int64
    /// The subscription it is delivered for (absent outside a notification).
    public var subscription: Int64?
    /// The job's id.
    public var id: Int64
    public var queueJobId: String
    public var campaign: String
    public var status: JobStatus
    public var phase: JobPhase?
    /// The job's last call outcome, when it has one.
    public var outcome: String?
    public var reason: String?
    public var attemptsMade: Int
    /// When the transition was made (RFC 3339, ms).
    public var at: String

    public init(
        eventId: Int64, subscription: Int64? = nil, id: Int64, queueJobId: String, campaign: String, status: JobStatus,
        phase: JobPhase?, outcome: String?, reason: String?, attemptsMade: Int, at: String
    ) {
        self.eventId = eventId
        self.subscription = subscription
        self.id = id
        self.queueJobId = queueJobId
        self.campaign = campaign
        self.status = status
        self.phase = phase
        self.outcome = outcome
        self.reason = reason
        self.attemptsMade = attemptsMade
        self.at = at
    }

    /// The notification's method name.
    public static let notification = "events.job"
}

extension ListEvents.Params: ValidatedParams {
    public func validate() throws {
        if let after = self.after, after < 0 { throw RPCError(.validationFailed, "after must be 0 or more") }
        if let limit = self.limit, !(1...1000).contains(limit) { throw RPCError(.validationFailed, "limit must be 1…1000") }
    }
}

extension SubscribeEvents.Params: ValidatedParams {
    public func validate() throws {
        if let after = self.after, after < 0 { throw RPCError(.validationFailed, "after must be 0 or more") }
    }
}

// An event stream of a busy campaign is hundreds of notifications a second: written and read by
// hand, as the hot path's answers are.
extension JobEvent: JSONWritable, JSONReadable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.int("eventId", self.eventId, into: &out)
        w.int("subscription", self.subscription, into: &out)
        w.int("id", self.id, into: &out)
        w.string("queueJobId", self.queueJobId, into: &out)
        w.string("campaign", self.campaign, into: &out)
        w.string("status", self.status.rawValue, into: &out)
        w.string("phase", self.phase?.rawValue, into: &out)
        w.string("outcome", self.outcome, into: &out)
        w.string("reason", self.reason, into: &out)
        w.int("attemptsMade", self.attemptsMade, into: &out)
        w.string("at", self.at, into: &out)
        w.end(into: &out)
    }

    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        let status = try f.string("status")
        guard let s = JobStatus(rawValue: status) else {
            throw JSONShapeError(path: ".status", problem: "unknown status \(status)")
        }
        let phase = try f.optionalString("phase")
        guard phase == nil || JobPhase(rawValue: phase!) != nil else {
            throw JSONShapeError(path: ".phase", problem: "unknown phase \(phase!)")
        }
        self.init(
            eventId: try f.int64("eventId"), subscription: f.value("subscription")?.intValue, id: try f.int64("id"),
            queueJobId: try f.string("queueJobId"), campaign: try f.string("campaign"), status: s,
            phase: phase.flatMap(JobPhase.init(rawValue:)), outcome: try f.optionalString("outcome"),
            reason: try f.optionalString("reason"), attemptsMade: try f.int("attemptsMade"), at: try f.string("at"))
    }
}
