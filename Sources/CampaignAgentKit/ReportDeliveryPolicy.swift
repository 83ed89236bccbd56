import CampaignProtocol

/// When the agent stops trying to deliver a report, and how long it waits between tries
/// (``AgentRunner/deliver(_:logger:patience:)``). It only decides: it does no I/O, never
/// sleeps, logs or reads the clock (time comes in as `now`); the runner sends, waits, counts and
/// logs as it says.
///
/// - A refusal that retrying cannot cure (LEASE_LOST, INVALID_STATE, NOT_FOUND: any error that
///   is not retryable) drops the report: the coordinator has settled it.
/// - INTERNAL_ERROR is retried up to ``maximumInternalErrors`` times (it may be a passing
///   fault); the next one counts as a refusal.
/// - Anything else (connection trouble, a retryable error) is retried.
/// - Retries wait ``firstBackoff``, doubling up to ``maximumBackoff``.
/// - Once shutdown began, tries stop after the shutdown grace; with a patience, tries stop when
///   it is over. The report is then undelivered (it stays in the spool, if any).
struct ReportDeliveryPolicy: Sendable, Equatable {
    /// Why the runner stops trying before a send; the report stays undelivered.
    enum GiveUp: Sendable, Equatable {
        /// Shutdown began longer ago than the shutdown grace.
        case shutdownGraceOver
        /// The patience given for this report is over.
        case patienceRanOut
    }

    /// Why the runner tries again.
    enum Retry: Sendable, Equatable {
        /// INTERNAL_ERROR: not retryable by its code, but maybe a passing fault.
        case internalError
        /// No answer, or an error retrying may cure.
        case notDeliveredYet
    }

    /// What to do after a send failed.
    enum Decision: Sendable, Equatable {
        /// The coordinator refused the report for good: it is settled, drop it.
        case drop
        /// Wait this long, then try again.
        case retry(after: Duration, Retry)
    }

    /// INTERNAL_ERRORs retried for one report; the next one drops it.
    static let maximumInternalErrors = 5
    /// The wait before the first retry.
    static let firstBackoff = Duration.milliseconds(100)
    /// The longest wait between two tries.
    static let maximumBackoff = Duration.seconds(2)

    /// The wait before the next retry.
    private(set) var backoff = Self.firstBackoff
    /// INTERNAL_ERRORs retried so far.
    private(set) var internalErrors = 0
    /// When the patience is over (nil: no patience, try until delivered or shutdown).
    let giveUpAt: ContinuousClock.Instant?
    let shutdownGrace: Duration

    /// - Parameters:
    ///   - patience: How long the whole effort may take from `now` (nil: no bound).
    ///   - shutdownGrace: How long after shutdown began tries go on.
    init(patience: Duration?, shutdownGrace: Duration, now: ContinuousClock.Instant) {
        self.giveUpAt = patience.map { now + $0 }
        self.shutdownGrace = shutdownGrace
    }

    /// Before each try: the reason to stop (the shutdown grace first), or nil to go on.
    func giveUp(now: ContinuousClock.Instant, shutdownStarted: ContinuousClock.Instant?) -> GiveUp? {
        if let shutdownStarted, now - shutdownStarted > self.shutdownGrace { return .shutdownGraceOver }
        if let giveUpAt, now > giveUpAt { return .patienceRanOut }
        return nil
    }

    /// A send failed with `error` (an ``RPCError`` is the coordinator's answer; anything else
    /// is trouble on the way). A delivered report needs no decision.
    mutating func sendFailed(_ error: any Error) -> Decision {
        guard let error = error as? RPCError else { return self.retry(.notDeliveredYet) }
        if error.symbol == RPCErrorCode.internalError.name && self.internalErrors < Self.maximumInternalErrors {
            self.internalErrors += 1
            return self.retry(.internalError)
        }
        return error.retryable ? self.retry(.notDeliveredYet) : .drop
    }

    private mutating func retry(_ why: Retry) -> Decision {
        let pause = self.backoff
        self.backoff = min(self.backoff * 2, Self.maximumBackoff)
        return .retry(after: pause, why)
    }
}
