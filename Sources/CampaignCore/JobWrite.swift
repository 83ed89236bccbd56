import Foundation

/// Everything the store writes for one transition of a job, decided whole by the state machine
/// (postgres-nio's actions that carry what to execute; River's named transition writes): the
/// store locks rows, asks the machine, and writes this — it decides nothing a second time.
public struct JobWrite: Sendable, Equatable {
    public var status: JobStatus
    public var phase: JobPhase?
    /// Due again this many milliseconds from now (nil: `run_at` unchanged).
    public var delayMs: Int?
    /// Due again at this instant (a deferred dial; nil: as `delayMs` says).
    public var runAt: Date?
    /// The new `result` (nil: unchanged).
    public var result: JobResult?
    /// The attempt's idempotency key, recorded when dialing starts (nil: unchanged).
    public var idempotencyKey: IdempotencyKey?
    /// The new attempt budget, after an admin's retry (nil: unchanged).
    public var maxAttempts: Int?
    /// The attempts made, when a transition gives one back (a deferred dial; nil: unchanged).
    public var attemptsMade: Int?
    /// The agent request that caused the transition (nil: none did).
    public var lastReport: JobStateMachine.ReportKind?
    /// The job is FAILED and its call may have happened (`outcome_unknown`): never redialed.
    public var outcomeUnknown: Bool

    public init(
        status: JobStatus, phase: JobPhase? = nil, delayMs: Int? = nil, result: JobResult? = nil,
        idempotencyKey: IdempotencyKey? = nil, maxAttempts: Int? = nil, lastReport: JobStateMachine.ReportKind? = nil,
        outcomeUnknown: Bool = false
    ) {
        self.status = status
        self.phase = phase
        self.delayMs = delayMs
        self.result = result
        self.idempotencyKey = idempotencyKey
        self.maxAttempts = maxAttempts
        self.lastReport = lastReport
        self.outcomeUnknown = outcomeUnknown
    }

    /// Two transitions of one job in one batch: the later (`self`) wins, keeping what it leaves
    /// unchanged from the earlier.
    public mutating func mergeKeeping(_ earlier: JobWrite) {
        if self.result == nil { self.result = earlier.result }
        if self.idempotencyKey == nil { self.idempotencyKey = earlier.idempotencyKey }
        if self.maxAttempts == nil { self.maxAttempts = earlier.maxAttempts }
        if self.delayMs == nil { self.delayMs = earlier.delayMs }
        if self.attemptsMade == nil { self.attemptsMade = earlier.attemptsMade }
        if self.runAt == nil { self.runAt = earlier.runAt }
    }
}

extension JobStateMachine {
    /// What an agent's request says beyond its event: carried into the write's ``JobResult``.
    public struct ReportDetails: Sendable, Equatable {
        /// The call's outcome (a `CallOutcome` raw value).
        public var outcome: String?
        /// A failure's error text.
        public var error: String?
        /// A skip's reason as the agent gave it.
        public var skipDetail: String?

        public init(outcome: String? = nil, error: String? = nil, skipDetail: String? = nil) {
            self.outcome = outcome
            self.error = error
            self.skipDetail = skipDetail
        }
    }

    /// Decides `event`, applies it when it is a transition, and answers the whole write that
    /// records it (nil when there is nothing to write: a rejection or a replay).
    ///
    /// - Parameters:
    ///   - details: what the agent's request said (outcome, error, skip detail).
    ///   - queueJobId: the job's queue id, for the idempotency key recorded when dialing starts.
    ///   - retry: the backoff of a retryable failure; `randomUnit` its jitter, in 0…1 (asked
    ///     for only when a retry is decided).
    ///   - retryBudget: the attempts an admin's retry adds.
    public mutating func write(
        _ event: Event, details: ReportDetails = ReportDetails(), queueJobId: String = "", retry: RetryPolicy = RetryPolicy(),
        randomUnit: @autoclosure () -> Double = 0, retryBudget: Int = 1
    ) -> (Decision, JobWrite?) {
        let attemptBefore = self.snapshot.attemptsMade
        let decision = self.handle(event, retryBudget: retryBudget)
        guard case .transition(let t) = decision else { return (decision, nil) }
        var write = JobWrite(
            status: self.snapshot.status, phase: self.snapshot.phase, lastReport: self.snapshot.lastReport,
            outcomeUnknown: self.snapshot.outcomeUnknown)
        switch t {
        case .claim:
            break  // a lease is written by the lease statement, with its token and expiry
        case .startDialing:
            write.idempotencyKey = IdempotencyKey(queueJobId: queueJobId, attempt: attemptBefore)
        case .complete:
            write.result = JobResult(outcome: details.outcome)
        case .retryLater:
            write.delayMs = retry.delayMs(afterAttempt: attemptBefore, unit: randomUnit())
            write.result = JobResult(outcome: details.outcome, error: details.error, retry: true)
        case .requeueNow:
            break
        case .fail(let reason):
            write.result = JobResult(outcome: details.outcome, error: details.error, reason: reason.rawValue)
        case .skip(let reason):
            write.result = JobResult(reason: reason, detail: details.skipDetail)
        case .deferDial(let reason, let until):
            write.runAt = until
            write.attemptsMade = self.snapshot.attemptsMade
            write.result = JobResult(reason: reason, deferred: true)
        case .reset:
            write.delayMs = 0
            write.maxAttempts = self.snapshot.maxAttempts
        case .redialNotPlaced:
            write.delayMs = 0
            write.maxAttempts = self.snapshot.maxAttempts
            write.result = JobResult(error: details.error, reason: JobStateMachine.notPlacedReason, retry: true)
        }
        return (decision, write)
    }
}
