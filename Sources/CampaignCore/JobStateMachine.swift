/// The job lifecycle of DESIGN §4 as a pure decision function.
///
/// The machine is rebuilt from a job's row (a ``JobStateMachine/Snapshot``), asked what an
/// event means for it, and answers with a ``Decision``. It never reads a clock, performs I/O
/// or throws; the store applies the decided ``Transition`` as a compare-and-set.
public struct JobStateMachine: Sendable, Equatable {
    /// What the machine needs to know of a job.
    public struct Snapshot: Sendable, Equatable {
        public var status: JobStatus
        public var phase: JobPhase?
        /// The fencing token of the current (or last) lease, if the job was ever leased.
        public var leaseToken: String?
        public var attemptsMade: Int
        public var maxAttempts: Int
        /// True when the job is FAILED because a DIALING lease expired (`outcome_unknown`).
        public var outcomeUnknown: Bool

        public init(
            status: JobStatus, phase: JobPhase? = nil, leaseToken: String? = nil,
            attemptsMade: Int = 0, maxAttempts: Int = 3, outcomeUnknown: Bool = false
        ) {
            self.status = status
            self.phase = phase
            self.leaseToken = leaseToken
            self.attemptsMade = attemptsMade
            self.maxAttempts = maxAttempts
            self.outcomeUnknown = outcomeUnknown
        }
    }

    /// Everything that can happen to a job.
    public enum Event: Sendable, Equatable {
        /// An agent asks for the job (`jobs.lease`).
        case leaseRequested
        /// The agent asks to dial (`jobs.dialing`); `allowed` is the eligibility verdict of that moment.
        case dialingRequested(token: String, verdict: DialVerdict)
        /// The agent reports the call completed (`jobs.complete`).
        case completeReported(token: String)
        /// The agent reports a failure (`jobs.fail`).
        case failReported(token: String, retryable: Bool)
        /// The agent skips the job on a business rule (`jobs.skip`).
        case skipReported(token: String)
        /// The lease ran out without renewal.
        case leaseExpired
        /// The connection of the agent holding the lease closed.
        case connectionLost
        /// An administrator cancels the job (`jobs.cancel`).
        case cancelRequested
        /// An administrator retries a finished job (`jobs.retry`).
        case retryRequested
    }

    /// The verdict of the pre-dial check.
    public enum DialVerdict: Sendable, Equatable {
        case allowed
        /// Refused by the named business rule (the job is SKIPPED with it as reason).
        case refused(rule: String)
    }

    /// What the store must do.
    public enum Transition: Sendable, Equatable {
        /// QUEUED → ACTIVE/CLAIMED, attemptsMade + 1, fresh lease token.
        case claim
        /// ACTIVE/CLAIMED → ACTIVE/DIALING, idempotency key recorded.
        case startDialing
        /// → COMPLETED.
        case complete
        /// → QUEUED after a backoff delay (a retryable failure with attempts left).
        case retryLater
        /// → QUEUED at once (lease lost before dialing, attempts left); the attempt stays counted.
        case requeueNow
        /// → FAILED with the given reason.
        case fail(reason: FailReason)
        /// → SKIPPED with the given reason.
        case skip(reason: String)
        /// FAILED/SKIPPED → QUEUED, budget extended by the admin's retry.
        case reset
    }

    /// Why a job ended FAILED.
    public enum FailReason: String, Sendable, Equatable {
        /// The agent reported a final failure, or a retryable one with no attempts left.
        case reported = "reported"
        /// The lease expired before dialing and no attempts are left.
        case leaseExpired = "lease_expired"
        /// The lease expired while DIALING: the call may or may not have happened. Never redialed.
        case outcomeUnknown = "outcome_unknown"
    }

    /// Why an event was refused.
    public enum Rejection: String, Sendable, Equatable, Error {
        /// The report's lease token is not the job's current one.
        case leaseLost = "LEASE_LOST"
        /// The event makes no sense in the job's state (for example, complete before dialing).
        case invalidState = "INVALID_STATE"
    }

    public enum Decision: Sendable, Equatable {
        case transition(Transition)
        /// The same report was already applied: answer with the job as it is, change nothing.
        case replay
        case reject(Rejection)
    }

    public private(set) var snapshot: Snapshot

    public init(_ snapshot: Snapshot) {
        self.snapshot = snapshot
    }

    /// Decides what `event` means for the job. Pure: call it as often as you like.
    public func decide(_ event: Event) -> Decision {
        let s = self.snapshot
        switch event {
        case .leaseRequested:
            return s.status == .queued ? .transition(.claim) : .reject(.invalidState)

        case .dialingRequested(let token, let verdict):
            guard s.leaseToken == token else { return .reject(.leaseLost) }
            switch (s.status, s.phase) {
            case (.active, .claimed):
                switch verdict {
                case .allowed: return .transition(.startDialing)
                case .refused(let rule): return .transition(.skip(reason: rule))
                }
            case (.active, .dialing):
                return .replay  // the agent asked again (e.g. after a reconnect): same answer
            case (.skipped, _):
                return .replay  // refused before, or cancelled: the agent learns it now
            default:
                return .reject(.invalidState)
            }

        case .completeReported(let token):
            guard s.leaseToken == token else { return .reject(.leaseLost) }
            switch (s.status, s.phase) {
            case (.active, .dialing): return .transition(.complete)
            case (.active, .claimed): return .reject(.invalidState)  // no call was placed
            case (.failed, _) where s.outcomeUnknown: return .transition(.complete)  // late result lands
            case (.completed, _), (.failed, _), (.skipped, _), (.queued, _): return .replay
            default: return .reject(.invalidState)
            }

        case .failReported(let token, let retryable):
            guard s.leaseToken == token else { return .reject(.leaseLost) }
            switch (s.status, s.phase) {
            case (.active, _):
                if retryable && s.attemptsMade < s.maxAttempts { return .transition(.retryLater) }
                return .transition(.fail(reason: .reported))
            case (.failed, _) where s.outcomeUnknown:
                // The real outcome of the unknown call arrived. It is never redialed by itself.
                return .transition(.fail(reason: .reported))
            case (.completed, _), (.failed, _), (.skipped, _), (.queued, _): return .replay
            }

        case .skipReported(let token):
            guard s.leaseToken == token else { return .reject(.leaseLost) }
            switch (s.status, s.phase) {
            case (.active, .claimed): return .transition(.skip(reason: "agent"))
            case (.active, .dialing): return .reject(.invalidState)  // a call is under way: report it
            case (.skipped, _): return .replay
            default: return .reject(.invalidState)
            }

        case .leaseExpired:
            switch (s.status, s.phase) {
            case (.active, .claimed):
                return s.attemptsMade < s.maxAttempts
                    ? .transition(.requeueNow) : .transition(.fail(reason: .leaseExpired))
            case (.active, .dialing): return .transition(.fail(reason: .outcomeUnknown))
            default: return .reject(.invalidState)
            }

        case .connectionLost:
            switch (s.status, s.phase) {
            case (.active, .claimed):
                return s.attemptsMade < s.maxAttempts
                    ? .transition(.requeueNow) : .transition(.fail(reason: .leaseExpired))
            // DIALING keeps its lease: the call may still be running and its result may still arrive.
            default: return .reject(.invalidState)
            }

        case .cancelRequested:
            switch s.status {
            case .queued, .active: return .transition(.skip(reason: "cancelled"))
            case .completed, .failed, .skipped: return .reject(.invalidState)
            }

        case .retryRequested:
            switch s.status {
            case .failed, .skipped: return .transition(.reset)
            case .queued, .active, .completed: return .reject(.invalidState)
            }
        }
    }

    /// Applies a transition to the snapshot (what the store's row looks like afterwards).
    /// `newToken` is the token of a fresh lease (only used by `.claim`).
    public mutating func apply(_ transition: Transition, newToken: String? = nil, retryBudget: Int = 1) {
        switch transition {
        case .claim:
            self.snapshot.status = .active
            self.snapshot.phase = .claimed
            self.snapshot.attemptsMade += 1
            self.snapshot.leaseToken = newToken
            self.snapshot.outcomeUnknown = false
        case .startDialing:
            self.snapshot.phase = .dialing
        case .complete:
            self.snapshot.status = .completed
            self.snapshot.phase = nil
            self.snapshot.outcomeUnknown = false
        case .retryLater, .requeueNow:
            self.snapshot.status = .queued
            self.snapshot.phase = nil
        case .fail(let reason):
            self.snapshot.status = .failed
            self.snapshot.phase = nil
            self.snapshot.outcomeUnknown = reason == .outcomeUnknown
        case .skip:
            self.snapshot.status = .skipped
            self.snapshot.phase = nil
        case .reset:
            self.snapshot.status = .queued
            self.snapshot.phase = nil
            self.snapshot.outcomeUnknown = false
            self.snapshot.maxAttempts = self.snapshot.attemptsMade + max(1, retryBudget)
        }
    }
}
