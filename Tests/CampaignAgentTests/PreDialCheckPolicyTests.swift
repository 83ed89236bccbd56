import CampaignCore
import CampaignProtocol
import Testing

@testable import CampaignAgentKit

/// What the agent does with each answer to its pre-dial check, with the jitter fixed.
@Suite("Pre-dial check policy")
struct PreDialCheckPolicyTests {
    typealias Policy = PreDialCheckPolicy
    struct ConnectionReset: Error {}

    /// A policy whose jitter is always the top of its range.
    static func policy() -> Policy { Policy(random: { $0.upperBound }) }

    static let allowed = DialingJob.Result(allowed: true, idempotencyKey: "q#1", rule: nil, status: .active)
    static let refused = DialingJob.Result(allowed: false, idempotencyKey: nil, rule: "cooldown", status: .skipped)
    static func limited(_ ms: Int) -> DialingJob.Result {
        DialingJob.Result(allowed: false, idempotencyKey: nil, rule: nil, status: .active, retryAfterMs: ms)
    }

    @Test func allowedAndRefusedAreFinalWhateverTheAgentIsDoing() {
        for stopping in [false, true] {
            #expect(Self.policy().answered(Self.allowed, stopping: stopping) == .answer(Self.allowed))
            #expect(Self.policy().answered(Self.refused, stopping: stopping) == .answer(Self.refused))
        }
    }

    @Test func aProviderLimitWaitsItsTimePlusUpToHalfAgainOrGivesTheJobBackWhenStopping() {
        #expect(Self.policy().answered(Self.limited(400), stopping: false) == .askAgain(after: .milliseconds(600), limited: true))
        #expect(Self.policy().answered(Self.limited(1), stopping: false) == .askAgain(after: .milliseconds(2), limited: true))
        let none = Policy(random: { $0.lowerBound })
        #expect(none.answered(Self.limited(400), stopping: false) == .askAgain(after: .milliseconds(400), limited: true))
        #expect(Self.policy().answered(Self.limited(400), stopping: true) == .giveBack("agent stopping"))
    }

    @Test func aJobNoLongerOursIsNeitherCalledNorGivenBack() {
        var p = Self.policy()
        #expect(p.failed(RPCError(.leaseLost, "lost"), stopping: false) == .notOurs)
        #expect(p.failed(RPCError(.invalidState, "no"), stopping: true) == .notOurs)
    }

    @Test func retryableErrorsAskAgainWithABackoffThatDoublesToTwoSeconds() {
        var p = Self.policy()
        let waits = (0..<8).map { _ in p.failed(RPCError(.databaseUnavailable, "down"), stopping: false) }
        // 50, 100, 200, 400, 800, 1600, 2000, 2000 ms, each + 50 ms of jitter (the top of 0…50).
        #expect(waits == [100, 150, 250, 450, 850, 1650, 2050, 2050].map { .askAgain(after: .milliseconds($0), limited: false) })
        #expect(p.failed(RPCError(.limitExceeded, "busy"), stopping: false) == .askAgain(after: .milliseconds(2050), limited: false))
    }

    @Test func anythingElseOrARetryableErrorWhileStoppingGivesTheJobBack() {
        var p = Self.policy()
        #expect(p.failed(ConnectionReset(), stopping: false) == .giveBack("pre-dial check failed: ConnectionReset()"))
        let boom = RPCError(.internalError, "boom")
        #expect(p.failed(boom, stopping: false) == .giveBack("pre-dial check failed: \(boom)"))
        let down = RPCError(.databaseUnavailable, "down")
        #expect(p.failed(down, stopping: true) == .giveBack("pre-dial check failed: \(down)"))
        #expect(p.backoff == Policy.firstBackoff, "none of these moved the backoff")
    }
}
