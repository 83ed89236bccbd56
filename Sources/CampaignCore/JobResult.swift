/// What a job's `result` records (the `result` column), typed: every transition's payload is one
/// of these, built by the state machine (``JobStateMachine/write(_:details:queueJobId:retry:randomUnit:retryBudget:)``),
/// never a dictionary literal in the store.
public struct JobResult: Sendable, Equatable {
    /// The call's outcome (a `CallOutcome` raw value), when a call ended or was reported.
    public var outcome: String?
    /// The agent's error text of a failure.
    public var error: String?
    /// Why the job ended as it did: a ``JobStateMachine/FailReason``, a skip's reason (`agent`,
    /// `cancelled`) or the pre-dial rule that refused the call.
    public var reason: String?
    /// What the agent said of its skip.
    public var detail: String?
    /// True on a retryable failure that put the job back in the queue.
    public var retry: Bool
    /// True when the pre-dial check put the job back in the queue until `reason` allows the call
    /// (the attempt was given back).
    public var deferred: Bool

    public init(
        outcome: String? = nil, error: String? = nil, reason: String? = nil, detail: String? = nil, retry: Bool = false,
        deferred: Bool = false
    ) {
        self.outcome = outcome
        self.error = error
        self.reason = reason
        self.detail = detail
        self.retry = retry
        self.deferred = deferred
    }

    /// The members of the stored JSON object, in this order, absent ones left out.
    public var members: [(key: String, value: Member)] {
        var m: [(key: String, value: Member)] = []
        if let error = self.error { m.append(("error", .text(error))) }
        if self.retry { m.append(("retry", .flag(true))) }
        if let reason = self.reason { m.append(("reason", .text(reason))) }
        if self.deferred { m.append(("deferred", .flag(true))) }
        if let detail = self.detail { m.append(("detail", .text(detail))) }
        if let outcome = self.outcome { m.append(("outcome", .text(outcome))) }
        return m
    }

    /// A member's value: text or a boolean.
    public enum Member: Sendable, Equatable {
        case text(String)
        case flag(Bool)
    }
}
