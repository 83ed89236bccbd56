import CampaignProtocol
import Testing

@testable import CampaignAgentKit

/// When a report stops being retried and how long each retry waits, with an explicit `now`.
@Suite("Report delivery policy")
struct ReportDeliveryPolicyTests {
    typealias Policy = ReportDeliveryPolicy

    static let t0 = ContinuousClock.now
    static func at(_ ms: Int) -> ContinuousClock.Instant { Self.t0 + .milliseconds(ms) }

    struct ConnectionReset: Error {}

    static let internalError = RPCError(.internalError, "boom")
    static let leaseLost = RPCError(.leaseLost, "not your lease")

    // MARK: Before each try

    @Test("no shutdown and no patience: always try")
    func noBounds() {
        let policy = Policy(patience: nil, shutdownGrace: .seconds(20), now: Self.at(0))
        #expect(policy.giveUpAt == nil)
        #expect(policy.giveUp(now: Self.at(0), shutdownStarted: nil) == nil)
        #expect(policy.giveUp(now: Self.at(86_400_000), shutdownStarted: nil) == nil)
    }

    @Test("after shutdown: tries go on for the grace, then stop (the grace counted from shutdown, not the first try)")
    func shutdownGrace() {
        let policy = Policy(patience: nil, shutdownGrace: .seconds(20), now: Self.at(0))
        let started = Self.at(5000)
        #expect(policy.giveUp(now: Self.at(6000), shutdownStarted: started) == nil)
        #expect(policy.giveUp(now: Self.at(25_000), shutdownStarted: started) == nil, "exactly the grace: still trying")
        #expect(policy.giveUp(now: Self.at(25_001), shutdownStarted: started) == .shutdownGraceOver)
    }

    @Test("a patience: tries until it is over, counted from when delivery began")
    func patience() {
        let policy = Policy(patience: .seconds(10), shutdownGrace: .seconds(20), now: Self.at(1000))
        #expect(policy.giveUpAt == Self.at(11_000))
        #expect(policy.giveUp(now: Self.at(11_000), shutdownStarted: nil) == nil, "exactly the patience: still trying")
        #expect(policy.giveUp(now: Self.at(11_001), shutdownStarted: nil) == .patienceRanOut)
    }

    @Test("both over: the shutdown grace is the reason given")
    func bothOver() {
        let policy = Policy(patience: .seconds(1), shutdownGrace: .seconds(1), now: Self.at(0))
        #expect(policy.giveUp(now: Self.at(5000), shutdownStarted: Self.at(0)) == .shutdownGraceOver)
        #expect(policy.giveUp(now: Self.at(5000), shutdownStarted: Self.at(4500)) == .patienceRanOut)
    }

    // MARK: After a failed send

    @Test(
        "refusals retrying cannot cure drop the report",
        arguments: [
            RPCError(.leaseLost, "x"), RPCError(.invalidState, "x"), RPCError(.notFound, "x"),
            RPCError(.invalidParams, "x"), RPCError(.methodNotFound, "x"),
            RPCError(code: 1001, message: "no data: not retryable"),
        ])
    func refusal(error: RPCError) {
        var policy = Policy(patience: nil, shutdownGrace: .seconds(20), now: Self.at(0))
        #expect(policy.sendFailed(error) == .drop)
        #expect(policy.backoff == .milliseconds(100), "a drop waits for nothing")
    }

    @Test(
        "errors the coordinator says are retryable are retried",
        arguments: [
            RPCError(.databaseUnavailable, "x"), RPCError(.limitExceeded, "x"), RPCError(.shuttingDown, "x"),
            RPCError(code: 7, message: "other", data: ["retryable": true]),
        ])
    func retryable(error: RPCError) {
        var policy = Policy(patience: nil, shutdownGrace: .seconds(20), now: Self.at(0))
        #expect(policy.sendFailed(error) == .retry(after: .milliseconds(100), .notDeliveredYet))
        #expect(policy.internalErrors == 0)
    }

    @Test("an error that is not the coordinator's answer is retried")
    func transportError() {
        var policy = Policy(patience: nil, shutdownGrace: .seconds(20), now: Self.at(0))
        #expect(policy.sendFailed(ConnectionReset()) == .retry(after: .milliseconds(100), .notDeliveredYet))
        #expect(policy.sendFailed(CancellationError()) == .retry(after: .milliseconds(200), .notDeliveredYet))
    }

    @Test("the backoff: 100 ms, doubling up to 2 s, shared by every kind of retry")
    func backoff() {
        var policy = Policy(patience: nil, shutdownGrace: .seconds(20), now: Self.at(0))
        let errors: [any Error] = [
            ConnectionReset(), Self.internalError, RPCError(.databaseUnavailable, "x"), ConnectionReset(),
            Self.internalError, ConnectionReset(), ConnectionReset(), ConnectionReset(),
        ]
        let pauses = errors.map { error -> Duration? in
            guard case .retry(let pause, _) = policy.sendFailed(error) else { return nil }
            return pause
        }
        #expect(pauses == [100, 200, 400, 800, 1600, 2000, 2000, 2000].map { .milliseconds($0) })
    }

    @Test("INTERNAL_ERROR: retried five times (a passing fault?), the sixth drops the report")
    func internalErrors() {
        var policy = Policy(patience: nil, shutdownGrace: .seconds(20), now: Self.at(0))
        for (n, pause) in [100, 200, 400, 800, 1600].enumerated() {
            #expect(policy.sendFailed(Self.internalError) == .retry(after: .milliseconds(pause), .internalError))
            #expect(policy.internalErrors == n + 1)
        }
        #expect(policy.sendFailed(Self.internalError) == .drop)
        #expect(policy.internalErrors == 5)
    }

    @Test("internal errors count across other failures: the count is not reset by a retry of another kind")
    func internalErrorsAcrossOthers() {
        var policy = Policy(patience: nil, shutdownGrace: .seconds(20), now: Self.at(0))
        for _ in 0..<4 { _ = policy.sendFailed(Self.internalError) }
        #expect(policy.sendFailed(ConnectionReset()) == .retry(after: .milliseconds(1600), .notDeliveredYet))
        #expect(policy.sendFailed(Self.internalError) == .retry(after: .seconds(2), .internalError))
        #expect(policy.sendFailed(Self.internalError) == .drop)
        #expect(policy.sendFailed(Self.leaseLost) == .drop)
    }
}
