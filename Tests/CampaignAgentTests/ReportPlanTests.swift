import CampaignCore
import CampaignProtocol
import Foundation
import Testing

@testable import CampaignAgentKit

/// Which report follows what the placer said, under the outcome policy; the reports are
/// compared in their wire form.
@Suite("Report plan")
struct ReportPlanTests {
    static let job = HTTPPlacerTests.request().job
    static let started = Date(timeIntervalSince1970: 1_800_000_000)
    static let ended = Self.started.addingTimeInterval(1.5)
    static let record = CallRecord(
        provider: "http", providerCallId: "c-1", idempotencyKey: "q-1:2026-11-29#1",
        startedAt: "2027-01-15T08:00:00.000Z", endedAt: "2027-01-15T08:00:01.500Z", outcome: .answered,
        durationMs: 1500, detail: nil)

    static func plan(_ placed: PlacedCall, policy: OutcomePolicy = .default) -> ReportPlan {
        ReportPlan.make(for: placed, job: Self.job, call: Self.record, policy: policy)
    }

    // MARK: The call log

    @Test("the call log: what the placer said, the times, the duration from the placer or else from the times")
    func callRecord() {
        let placed = PlacedCall(outcome: .busy, providerCallId: "c-9", durationMs: 42, detail: ["x": 1])
        #expect(
            ReportPlan.callRecord(
                for: placed, provider: "exec", idempotencyKey: "k#2", startedAt: Self.started, endedAt: Self.ended)
                == CallRecord(
                    provider: "exec", providerCallId: "c-9", idempotencyKey: "k#2",
                    startedAt: "2027-01-15T08:00:00.000Z", endedAt: "2027-01-15T08:00:01.500Z", outcome: .busy,
                    durationMs: 42, detail: ["x": 1]))
        let timed = ReportPlan.callRecord(
            for: PlacedCall(outcome: .answered), provider: "http", idempotencyKey: "k#1", startedAt: Self.started,
            endedAt: Self.ended)
        #expect(timed.durationMs == 1500)
        #expect(timed.providerCallId == nil)
        #expect(timed.detail == nil)
    }

    // MARK: After a call

    @Test("no call placed: jobs.fail without a call log, retryable as the policy says of the outcome")
    func noCallPlaced() throws {
        let placed = PlacedCall.notPlaced("the provider refused the call with HTTP 422", ["httpStatus": 422])
        let plan = Self.plan(placed)
        #expect(plan.kind == .noCallPlaced("the provider refused the call with HTTP 422"))
        #expect(
            plan.report.wire
                == .fail(
                    FailJob.Params(
                        jobId: 7, leaseToken: "t", retryable: true,
                        error: "no call placed: the provider refused the call with HTTP 422", outcome: .failed,
                        call: nil)))
        let never = Self.plan(placed, policy: try OutcomePolicy.parse("FAILED=fail"))
        #expect(never.report.wire.fail?.retryable == false)
    }

    @Test("no call placed and no error given: \"?\"; an error is cut to 500 characters")
    func noCallPlacedError() {
        let bare = Self.plan(PlacedCall(outcome: .failed, callPlaced: false))
        #expect(bare.kind == .noCallPlaced("?"))
        #expect(bare.report.wire.fail?.error == "no call placed: ?")
        let long = Self.plan(.notPlaced(String(repeating: "x", count: 600)))
        #expect(long.report.wire.fail?.error == "no call placed: " + String(repeating: "x", count: 484))
    }

    @Test("outcome unknown: jobs.fail for good, with the call log and outcomeUnknown")
    func outcomeUnknown() {
        let plan = Self.plan(.unknown("the call had not ended at its hard limit", providerCallId: "c-1"))
        #expect(plan.kind == .outcomeUnknown("the call had not ended at its hard limit"))
        #expect(
            plan.report.wire
                == .fail(
                    FailJob.Params(
                        jobId: 7, leaseToken: "t", retryable: false,
                        error: "outcome unknown: the call had not ended at its hard limit",
                        outcome: .failed, call: Self.record, outcomeUnknown: true)))
        let long = Self.plan(.unknown(String(repeating: "y", count: 600)))
        #expect(long.report.wire.fail?.error == "outcome unknown: " + String(repeating: "y", count: 483))
        #expect(Self.plan(PlacedCall(outcome: .busy, outcomeKnown: false)).kind == .outcomeUnknown("?"))
    }

    @Test(
        "a call that ended: the default policy completes, retries or fails each outcome",
        arguments: [
            (CallOutcome.answered, OutcomePolicy.Action.complete), (.voicemail, .complete), (.noAnswer, .retry),
            (.busy, .retry), (.failed, .retry), (.rejected, .fail),
        ])
    func ended(outcome: CallOutcome, action: OutcomePolicy.Action) {
        let plan = Self.plan(PlacedCall(outcome: outcome, providerCallId: "c-1"))
        #expect(plan.kind == .ended)
        switch action {
        case .complete:
            #expect(
                plan.report.wire
                    == .complete(CompleteJob.Params(jobId: 7, leaseToken: "t", outcome: outcome, call: Self.record)))
        case .retry, .fail:
            #expect(
                plan.report.wire
                    == .fail(
                        FailJob.Params(
                            jobId: 7, leaseToken: "t", retryable: action == .retry,
                            error: "call ended \(outcome.rawValue)",
                            outcome: outcome, call: Self.record)))
        }
    }

    @Test("a call that ended, under a policy of one's own")
    func endedCustomPolicy() throws {
        let policy = try OutcomePolicy.parse("VOICEMAIL=retry,ANSWERED=fail,REJECTED=complete")
        #expect(Self.plan(PlacedCall(outcome: .voicemail), policy: policy).report.wire.fail?.retryable == true)
        #expect(Self.plan(PlacedCall(outcome: .answered), policy: policy).report.wire.fail?.retryable == false)
        #expect(Self.plan(PlacedCall(outcome: .rejected), policy: policy).report.wire.complete?.outcome == .rejected)
    }

    // MARK: Before a call

    @Test("giving a job back: a retryable jobs.fail without outcome or call log, the reason cut to 500 characters")
    func giveBack() {
        #expect(
            ReportPlan.giveBack(Self.job, because: "agent stopping").wire
                == .fail(
                    FailJob.Params(
                        jobId: 7, leaseToken: "t", retryable: true, error: "agent stopping", outcome: nil, call: nil)))
        let long = ReportPlan.giveBack(Self.job, because: String(repeating: "z", count: 501))
        #expect(long.wire.fail?.error == String(repeating: "z", count: 500))
        #expect(long.jobId == 7)
        #expect(long.leaseToken == "t")
    }
}
