import CampaignProtocol

/// What the agent does with each answer to its pre-dial check (`jobs.dialing`,
/// ``AgentRunner/askToDial(_:logger:)``). It only decides: no I/O, no sleeping, no logging, no
/// clock; the jitter is injected. The runner asks, waits, gives jobs back and logs as it says.
///
/// - Allowed, or refused by a rule: the answer is final (dial, or not: the coordinator skipped it).
/// - Allowed by the rules but over a provider limit (`retryAfterMs`): ask again after that wait
///   plus up to half of it again (so agents do not ask in lockstep) — or, when the agent is
///   stopping, give the job back.
/// - LEASE_LOST or INVALID_STATE: the job is no longer this agent's; no call.
/// - Another retryable error (LIMIT_EXCEEDED, DATABASE_UNAVAILABLE): ask again, after 50 ms
///   doubling up to 2 s plus up to 50 ms of jitter; never a failed job, never an attempt spent.
///   While stopping, it counts as a failed check.
/// - Anything else (no answer, an internal error): the check failed; give the job back (a
///   retryable failure before any call) rather than sit on its lease.
struct PreDialCheckPolicy: Sendable {
    enum Decision: Sendable, Equatable {
        /// Dial (`allowed`) or not (refused by a rule): this is the answer.
        case answer(DialingJob.Result)
        /// The job is no longer ours: no call, no report.
        case notOurs
        /// Ask again after this wait; `limited` when a provider limit said so (else an error).
        case askAgain(after: Duration, limited: Bool)
        /// No call: give the job back with this reason.
        case giveBack(String)
    }

    /// The first wait after a retryable error; it doubles up to ``maximumBackoff``.
    static let firstBackoff = Duration.milliseconds(50)
    static let maximumBackoff = Duration.seconds(2)

    /// A random number in `range` (the jitter); tests pass a fixed one.
    let random: @Sendable (ClosedRange<Int>) -> Int
    private(set) var backoff = Self.firstBackoff

    init(random: @escaping @Sendable (ClosedRange<Int>) -> Int = { Int.random(in: $0) }) {
        self.random = random
    }

    /// The coordinator answered.
    func answered(_ result: DialingJob.Result, stopping: Bool) -> Decision {
        guard let wait = result.retryAfterMs, !result.allowed else { return .answer(result) }
        if stopping { return .giveBack("agent stopping") }
        return .askAgain(after: .milliseconds(wait + self.random(0...max(1, wait / 2))), limited: true)
    }

    /// The check failed with `error` (an ``RPCError`` is the coordinator's answer).
    mutating func failed(_ error: any Error, stopping: Bool) -> Decision {
        if let e = error as? RPCError {
            if e.symbol == RPCErrorCode.leaseLost.name || e.symbol == RPCErrorCode.invalidState.name { return .notOurs }
            if e.retryable && !stopping {
                let pause = self.backoff + .milliseconds(self.random(0...50))
                self.backoff = min(self.backoff * 2, Self.maximumBackoff)
                return .askAgain(after: pause, limited: false)
            }
        }
        return .giveBack("pre-dial check failed: \(error)")
    }
}
