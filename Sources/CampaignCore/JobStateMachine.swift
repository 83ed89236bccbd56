import Foundation

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
        /// The agent request that brought the job into its present state under `leaseToken`, if
        /// one did (nil after a lease, a lost lease, an admin cancel or retry). A report of this
        /// kind sent again is a resend and gets `.replay`.
        public var lastReport: ReportKind?

        public init(
            status: JobStatus, phase: JobPhase? = nil, leaseToken: String? = nil,
            attemptsMade: Int = 0, maxAttempts: Int = 3, outcomeUnknown: Bool = false, lastReport: ReportKind? = nil
        ) {
            self.status = status
            self.phase = phase
            self.leaseToken = leaseToken
            self.attemptsMade = attemptsMade
            self.maxAttempts = maxAttempts
            self.outcomeUnknown = outcomeUnknown
            self.lastReport = lastReport
        }
    }

    /// The kinds of agent request about a leased job.
    public enum ReportKind: String, Sendable, Equatable, CaseIterable {
        case dialing, complete, fail, skip
    }

    /// Everything that can happen to a job.
    public enum Event: Sendable, Equatable {
        /// An agent asks for the job (`jobs.lease`).
        case leaseRequested
        /// The agent asks to dial (`jobs.dialing`); `allowed` is the eligibility verdict of that moment.
        case dialingRequested(token: String, verdict: DialVerdict)
        /// The agent reports the call completed (`jobs.complete`).
        case completeReported(token: String)
        /// The agent reports a failure (`jobs.fail`). `outcomeUnknown`: a call was (maybe) placed
        /// but its end could not be learned; like a lease that expires while dialing, the job
        /// fails for good with `outcome_unknown`.
        case failReported(token: String, retryable: Bool, outcomeUnknown: Bool = false)
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
        /// The job's campaign ended (`campaigns.end`, or its `endsAt` passed): a job still waiting
        /// in the queue is SKIPPED `campaign_ended`; one under lease is left to finish (a CLAIMED
        /// one meets the ended campaign at its pre-dial check, a DIALING one is a call under way).
        case campaignEnded
        /// The person at the job's number asked, on another job's call, not to be called again
        /// (the placer reported `optOut`): a job waiting in the queue or CLAIMED is SKIPPED
        /// `opted_out`; a DIALING one is a call under way, left to finish (its number is
        /// suppressed, so a retry of it is refused at the pre-dial check).
        case numberOptedOut
        /// The provider said it has no call under the attempt's key (a reconciliation lookup,
        /// issue 16): a job FAILED `outcome_unknown` was never called. It goes back to the queue
        /// with one more attempt; the only redial of an unknown outcome, and only on this word.
        case notPlacedConfirmed(token: String)
    }

    /// The verdict of the pre-dial check.
    public enum DialVerdict: Sendable, Equatable {
        case allowed
        /// Refused by the named business rule (the job is SKIPPED with it as reason).
        case refused(rule: String)
        /// Not now, by the named rule that waiting will satisfy (outside the calling window, the
        /// cooldown, today's cap): the job goes back to the queue, due `until` (the next allowed
        /// instant), its attempt not consumed.
        case deferred(rule: String, until: Date)
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
        /// ACTIVE/CLAIMED → QUEUED, due `until`, the attempt given back (attemptsMade − 1): the
        /// pre-dial check said "not now" for a reason that waiting will satisfy.
        case deferDial(reason: String, until: Date)
        /// FAILED/SKIPPED → QUEUED, budget extended by the admin's retry.
        case reset
        /// FAILED `outcome_unknown` → QUEUED, due now, with at least one attempt left (a fresh
        /// idempotency key): the provider said the call was never placed.
        case redialNotPlaced
    }

    /// Why a job ended FAILED.
    public enum FailReason: String, Sendable, Equatable {
        /// The agent reported a final failure, or a retryable one with no attempts left.
        case reported = "reported"
        /// The lease expired before dialing and no attempts are left.
        case leaseExpired = "lease_expired"
        /// The agent's connection closed before dialing and no attempts are left.
        case connectionLost = "connection_lost"
        /// The lease expired while DIALING: the call may or may not have happened. Never redialed.
        case outcomeUnknown = "outcome_unknown"
    }

    /// The reason of a job put back in the queue because the provider said its call was never
    /// placed (``Event/notPlacedConfirmed(token:)``).
    public static let notPlacedReason = "not_placed"

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

    /// The reason of a job SKIPPED because its campaign ended (by the event, or at the pre-dial check).
    public static let campaignEndedReason = "campaign_ended"
    public static let optedOutReason = "opted_out"

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
            if s.status == .active && s.phase == .claimed {
                switch verdict {
                case .allowed: return .transition(.startDialing)
                case .refused(let rule): return .transition(.skip(reason: rule))
                case .deferred(let rule, let until): return .transition(.deferDial(reason: rule, until: until))
                }
            }
            return self.afterTheFact(.dialing)

        case .completeReported(let token):
            guard s.leaseToken == token else { return .reject(.leaseLost) }
            if s.status == .active && s.phase == .dialing { return .transition(.complete) }
            // The real outcome of a call whose lease expired while dialing still lands.
            if s.status == .failed && s.outcomeUnknown { return .transition(.complete) }
            return self.afterTheFact(.complete)  // includes complete before dialing: no call was placed

        case .failReported(let token, let retryable, let unknown):
            guard s.leaseToken == token else { return .reject(.leaseLost) }
            if s.status == .active {
                // Only a dialed call can have an unknown outcome; before dialing it is a plain failure.
                if unknown && s.phase == .dialing { return .transition(.fail(reason: .outcomeUnknown)) }
                if retryable && !unknown && s.attemptsMade < s.maxAttempts { return .transition(.retryLater) }
                return .transition(.fail(reason: .reported))
            }
            if s.status == .failed && s.outcomeUnknown {
                // The agent's own "unknown" again: a resend of it replays; arriving after the lease
                // ran out it is recorded (nothing else changes).
                if unknown { return s.lastReport == .fail ? .replay : .transition(.fail(reason: .outcomeUnknown)) }
                // The real outcome of the unknown call arrived. It is never redialed by itself.
                return .transition(.fail(reason: .reported))
            }
            return self.afterTheFact(.fail)

        case .skipReported(let token):
            guard s.leaseToken == token else { return .reject(.leaseLost) }
            if s.status == .active && s.phase == .claimed { return .transition(.skip(reason: "agent")) }
            return self.afterTheFact(.skip)  // includes skip while dialing: a call is under way, report it

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
                    ? .transition(.requeueNow) : .transition(.fail(reason: .connectionLost))
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

        case .campaignEnded:
            return s.status == .queued ? .transition(.skip(reason: Self.campaignEndedReason)) : .reject(.invalidState)

        case .numberOptedOut:
            switch (s.status, s.phase) {
            case (.queued, _), (.active, .claimed?): return .transition(.skip(reason: Self.optedOutReason))
            default: return .reject(.invalidState)
            }

        case .notPlacedConfirmed(let token):
            guard s.leaseToken == token else { return .reject(.leaseLost) }
            if s.status == .failed && s.outcomeUnknown { return .transition(.redialNotPlaced) }
            // A job under lease, or settled otherwise, is not for this word to change (a resend
            // after the redial replays, as any resent report does).
            return self.afterTheFact(.fail)
        }
    }

    /// The answer to a request with the current token that finds the job no longer where that
    /// request could act: a resend of the request that got it there is replayed; a lease that
    /// ended without a report (lost, expired, or retried by an admin) is lost; anything else —
    /// a different report decided the job, an admin cancelled it, or the request is out of
    /// order — is an invalid state.
    private func afterTheFact(_ kind: ReportKind) -> Decision {
        let s = self.snapshot
        if s.lastReport == kind { return .replay }
        let leaseEndedUnreported =
            s.lastReport == nil && (s.status == .queued || (s.status == .failed && !s.outcomeUnknown))
        return leaseEndedUnreported ? .reject(.leaseLost) : .reject(.invalidState)
    }

    /// Decides `event` and, when it is a transition, applies it (recording which report caused
    /// it). Returns the decision. `newToken` is the token of a fresh lease (used by `.claim`).
    @discardableResult
    public mutating func handle(_ event: Event, newToken: String? = nil, retryBudget: Int = 1) -> Decision {
        let decision = self.decide(event)
        guard case .transition(let t) = decision else { return decision }
        let report: ReportKind?
        switch event {
        case .dialingRequested: report = .dialing
        case .completeReported: report = .complete
        case .failReported, .notPlacedConfirmed: report = .fail
        case .skipReported: report = .skip
        case .leaseRequested, .leaseExpired, .connectionLost, .cancelRequested, .retryRequested, .campaignEnded,
            .numberOptedOut:
            report = nil
        }
        self.apply(t, newToken: newToken, retryBudget: retryBudget, report: report)
        return decision
    }

    /// Applies a transition to the snapshot (what the store's row looks like afterwards).
    /// `newToken` is the token of a fresh lease (only used by `.claim`); `report` is the agent
    /// request that caused the transition, if any. Prefer ``handle(_:newToken:retryBudget:)``.
    public mutating func apply(
        _ transition: Transition, newToken: String? = nil, retryBudget: Int = 1, report: ReportKind? = nil
    ) {
        self.snapshot.lastReport = report
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
        case .deferDial:
            self.snapshot.status = .queued
            self.snapshot.phase = nil
            self.snapshot.attemptsMade = max(0, self.snapshot.attemptsMade - 1)
        case .reset:
            self.snapshot.status = .queued
            self.snapshot.phase = nil
            self.snapshot.outcomeUnknown = false
            self.snapshot.maxAttempts = self.snapshot.attemptsMade + max(1, retryBudget)
        case .redialNotPlaced:
            self.snapshot.status = .queued
            self.snapshot.phase = nil
            self.snapshot.outcomeUnknown = false
            self.snapshot.maxAttempts = max(self.snapshot.maxAttempts, self.snapshot.attemptsMade + 1)
        }
    }
}
