import CampaignCore
import Foundation
import Testing

/// The whole write of each transition, as the state machine decides it: the store writes exactly
/// this (status, phase, delay, result, key, budget, last report) and decides nothing again.
@Suite("Job writes")
struct JobWriteTests {
    typealias Machine = JobStateMachine

    static func machine(
        _ status: JobStatus, _ phase: JobPhase? = nil, attempts: Int = 1, max: Int = 3, lastReport: Machine.ReportKind? = nil
    ) -> Machine {
        Machine(.init(status: status, phase: phase, leaseToken: "t", attemptsMade: attempts, maxAttempts: max, lastReport: lastReport))
    }

    static let retry = RetryPolicy(baseMs: 1000, factor: 2, capMs: 60_000)

    @Test func dialingRecordsTheAttemptsKeyAndARefusalSkipsWithTheRule() {
        var m = Self.machine(.active, .claimed, attempts: 2)
        let (d, w) = m.write(.dialingRequested(token: "t", verdict: .allowed), queueJobId: "q-7")
        #expect(d == .transition(.startDialing))
        #expect(w == JobWrite(status: .active, phase: .dialing, idempotencyKey: IdempotencyKey(queueJobId: "q-7", attempt: 2), lastReport: .dialing))
        var refused = Self.machine(.active, .claimed)
        let (_, r) = refused.write(.dialingRequested(token: "t", verdict: .refused(rule: "outside_working_hours")), queueJobId: "q")
        #expect(r == JobWrite(status: .skipped, result: JobResult(reason: "outside_working_hours"), lastReport: .dialing))
        // Deferred: back to the queue at the instant, the attempt given back, the reason recorded.
        var deferred = Self.machine(.active, .claimed, attempts: 2)
        let until = Date(timeIntervalSince1970: 1_800_000_000)
        let (dd, dw) = deferred.write(.dialingRequested(token: "t", verdict: .deferred(rule: "cooldown", until: until)), queueJobId: "q")
        #expect(dd == .transition(.deferDial(reason: "cooldown", until: until)))
        var expected = JobWrite(status: .queued, result: JobResult(reason: "cooldown", deferred: true), lastReport: .dialing)
        expected.runAt = until
        expected.attemptsMade = 1
        #expect(dw == expected)
        #expect(dw?.result?.members.map(\.key) == ["reason", "deferred"])
    }

    @Test func theProvidersNoSuchCallRequeuesAnUnknownOutcomeWithOneMoreAttempt() {
        // All three attempts made, the last one's outcome unknown: the provider says it never
        // placed it. Due now, one attempt more (a fresh key), the reason and error recorded.
        var spent = Machine(.init(
            status: .failed, leaseToken: "t", attemptsMade: 3, maxAttempts: 3, outcomeUnknown: true, lastReport: nil))
        let (d, w) = spent.write(.notPlacedConfirmed(token: "t"), details: .init(error: "provider: no such call"))
        #expect(d == .transition(.redialNotPlaced))
        var expected = JobWrite(
            status: .queued, delayMs: 0,
            result: JobResult(error: "provider: no such call", reason: "not_placed", retry: true), maxAttempts: 4,
            lastReport: .fail, outcomeUnknown: false)
        expected.attemptsMade = nil
        #expect(w == expected)
        // Attempts left: the budget stays.
        var early = Machine(.init(status: .failed, leaseToken: "t", attemptsMade: 1, maxAttempts: 3, outcomeUnknown: true))
        #expect(early.write(.notPlacedConfirmed(token: "t")).1?.maxAttempts == 3)
        // A resend replays and writes nothing; an old lease's word is lost.
        #expect(spent.write(.notPlacedConfirmed(token: "t")).0 == .replay)
        #expect(spent.write(.notPlacedConfirmed(token: "old")).0 == .reject(.leaseLost))
        // A job whose outcome is known, or a call under way, is not the provider's lookup to change.
        var known = Self.machine(.completed, attempts: 1, lastReport: .complete)
        #expect(known.write(.notPlacedConfirmed(token: "t")).0 == .reject(.invalidState))
        var dialing = Self.machine(.active, .dialing, attempts: 1, lastReport: .dialing)
        #expect(dialing.write(.notPlacedConfirmed(token: "t")).0 == .reject(.invalidState))
    }

    @Test func reportsCarryTheAgentsDetailsIntoTheResult() {
        var complete = Self.machine(.active, .dialing)
        let (_, c) = complete.write(.completeReported(token: "t"), details: .init(outcome: "ANSWERED"))
        #expect(c == JobWrite(status: .completed, result: JobResult(outcome: "ANSWERED"), lastReport: .complete))

        var retried = Self.machine(.active, .dialing, attempts: 2)
        let (_, r) = retried.write(
            .failReported(token: "t", retryable: true), details: .init(outcome: "NO_ANSWER", error: "no answer"),
            retry: Self.retry, randomUnit: 0.5)
        // Full jitter within the ceiling after attempt 2 (base 1 s × 2): half of it.
        #expect(r == JobWrite(
            status: .queued, delayMs: 1000, result: JobResult(outcome: "NO_ANSWER", error: "no answer", retry: true),
            lastReport: .fail))

        var last = Self.machine(.active, .dialing, attempts: 3, max: 3)
        let (_, f) = last.write(.failReported(token: "t", retryable: true), details: .init(outcome: "BUSY", error: "busy"))
        #expect(f == JobWrite(status: .failed, result: JobResult(outcome: "BUSY", error: "busy", reason: "reported"), lastReport: .fail))

        var unknown = Self.machine(.active, .dialing)
        let (_, u) = unknown.write(.failReported(token: "t", retryable: false, outcomeUnknown: true), details: .init(error: "lost"))
        #expect(u?.result == JobResult(error: "lost", reason: "outcome_unknown"))
        #expect(u?.outcomeUnknown == true && unknown.snapshot.outcomeUnknown)

        var skipped = Self.machine(.active, .claimed)
        let (_, s) = skipped.write(.skipReported(token: "t"), details: .init(skipDetail: "number is a fax"))
        #expect(s == JobWrite(status: .skipped, result: JobResult(reason: "agent", detail: "number is a fax"), lastReport: .skip))
    }

    @Test func theRandomUnitIsAskedForOnlyWhenARetryIsDecided() {
        var asked = 0
        func unit() -> Double {
            asked += 1
            return 1
        }
        var m = Self.machine(.active, .dialing)
        _ = m.write(.completeReported(token: "t"), details: .init(outcome: "ANSWERED"), retry: Self.retry, randomUnit: unit())
        #expect(asked == 0)
        var f = Self.machine(.active, .dialing)
        _ = f.write(.failReported(token: "t", retryable: true), details: .init(error: "x"), retry: Self.retry, randomUnit: unit())
        #expect(asked == 1)
    }

    @Test func lostLeasesAndAdminChanges() {
        var requeued = Self.machine(.active, .claimed, attempts: 1)
        #expect(requeued.write(.leaseExpired).1 == JobWrite(status: .queued))
        var expired = Self.machine(.active, .dialing)
        #expect(expired.write(.leaseExpired).1 == JobWrite(
            status: .failed, result: JobResult(reason: "outcome_unknown"), outcomeUnknown: true))
        var lost = Self.machine(.active, .claimed, attempts: 3, max: 3)
        #expect(lost.write(.connectionLost).1 == JobWrite(status: .failed, result: JobResult(reason: "connection_lost")))
        var cancelled = Self.machine(.queued)
        #expect(cancelled.write(.cancelRequested).1 == JobWrite(status: .skipped, result: JobResult(reason: "cancelled")))
        var reset = Self.machine(.failed, attempts: 3, max: 3)
        #expect(reset.write(.retryRequested, retryBudget: 2).1 == JobWrite(status: .queued, delayMs: 0, maxAttempts: 5))
        // A retried unknown outcome is known to be retried: the flag goes with the reset.
        var unknown = Machine(.init(status: .failed, leaseToken: "t", attemptsMade: 1, maxAttempts: 1, outcomeUnknown: true))
        #expect(unknown.write(.retryRequested).1?.outcomeUnknown == false)
    }

    @Test func rejectionsAndReplaysWriteNothing() {
        var stale = Self.machine(.active, .dialing)
        let (d, w) = stale.write(.completeReported(token: "other"), details: .init(outcome: "ANSWERED"))
        #expect(d == .reject(.leaseLost) && w == nil)
        var done = Self.machine(.completed, lastReport: .complete)
        let (r, none) = done.write(.completeReported(token: "t"), details: .init(outcome: "ANSWERED"))
        #expect(r == .replay && none == nil)
    }

    @Test func theStoredResultHasTheKeysOperatorsRead() {
        let r = JobResult(outcome: "NO_ANSWER", error: "no answer", retry: true)
        #expect(r.members.map(\.key) == ["error", "retry", "outcome"])
        #expect(r.members.first { $0.key == "retry" }?.value == .flag(true))
        #expect(JobResult(reason: "agent", detail: "d").members.map(\.key) == ["reason", "detail"])
        #expect(JobResult().members.isEmpty)
    }

    @Test func aLaterWriteInTheSameBatchKeepsWhatItLeavesUnchanged() {
        var later = JobWrite(status: .queued, lastReport: .fail)
        later.mergeKeeping(JobWrite(
            status: .active, phase: .dialing, delayMs: 5, result: JobResult(reason: "x"),
            idempotencyKey: IdempotencyKey(queueJobId: "q", attempt: 1), maxAttempts: 4))
        #expect(later == JobWrite(
            status: .queued, delayMs: 5, result: JobResult(reason: "x"), idempotencyKey: IdempotencyKey(queueJobId: "q", attempt: 1),
            maxAttempts: 4, lastReport: .fail))
    }
}
