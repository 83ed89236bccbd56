import CampaignCore
import CampaignProtocol
import Foundation

/// Which report the agent sends for a job it leased: after a call, `jobs.complete` or
/// `jobs.fail` (retryable or not, with or without a call log) from what the placer says and the
/// outcome policy; for a job given back before any call, a retryable `jobs.fail`. It only
/// decides: no I/O, no clock, no logging (``AgentRunner/work(_:)`` logs the warning it names).
struct ReportPlan: Sendable {
    /// What the report says about the call, and what the runner warns about.
    enum Kind: Sendable, Equatable {
        /// Certainly no call: the job fails with the placer's outcome and no call log; retried
        /// when the outcome policy retries that outcome. The placer's error, for the warning.
        case noCallPlaced(String)
        /// The call may have reached the customer but its end is unknown: the job fails for good
        /// (`outcomeUnknown`), never redialed by itself. The placer's error, for the warning.
        case outcomeUnknown(String)
        /// The call ended with a known outcome: the outcome policy completes, retries or fails it.
        case ended
    }

    var kind: Kind
    var report: AgentRunner.Report

    /// Longest `error` text in a `jobs.fail` report.
    static let maximumErrorLength = 500

    /// The report for a job after its call: `placed` is what the placer returned, `call` the
    /// call log (``callRecord(for:provider:idempotencyKey:startedAt:endedAt:)``).
    static func make(for placed: PlacedCall, job: LeasedJob, call: CallRecord, policy: OutcomePolicy) -> ReportPlan {
        if !placed.callPlaced {
            let why = placed.error ?? "?"
            let params = FailJob.Params(
                jobId: job.jobId, leaseToken: job.leaseToken, retryable: policy.action(for: placed.outcome) == .retry,
                error: String("no call placed: \(why)".prefix(Self.maximumErrorLength)), outcome: placed.outcome,
                call: nil)
            return ReportPlan(kind: .noCallPlaced(why), report: .fail(params))
        }
        if !placed.outcomeKnown {
            let why = placed.error ?? "?"
            let params = FailJob.Params(
                jobId: job.jobId, leaseToken: job.leaseToken, retryable: false,
                error: String("outcome unknown: \(why)".prefix(Self.maximumErrorLength)), outcome: placed.outcome,
                call: call, outcomeUnknown: true)
            return ReportPlan(kind: .outcomeUnknown(why), report: .fail(params))
        }
        switch policy.action(for: placed.outcome) {
        case .complete:
            let params = CompleteJob.Params(
                jobId: job.jobId, leaseToken: job.leaseToken, outcome: placed.outcome, call: call)
            return ReportPlan(kind: .ended, report: .complete(params))
        case .retry, .fail:
            let params = FailJob.Params(
                jobId: job.jobId, leaseToken: job.leaseToken, retryable: policy.action(for: placed.outcome) == .retry,
                error: "call ended \(placed.outcome.rawValue)", outcome: placed.outcome, call: call)
            return ReportPlan(kind: .ended, report: .fail(params))
        }
    }

    /// The call log of a placed call; without a duration from the placer, the call lasted from
    /// `startedAt` to `endedAt`.
    static func callRecord(
        for placed: PlacedCall, provider: String, idempotencyKey: String, startedAt: Date, endedAt: Date
    ) -> CallRecord {
        var call = CallRecord(
            provider: provider, providerCallId: placed.providerCallId, idempotencyKey: idempotencyKey,
            startedAt: Timestamp.string(startedAt), endedAt: Timestamp.string(endedAt), outcome: placed.outcome,
            durationMs: placed.durationMs ?? Int(endedAt.timeIntervalSince(startedAt) * 1000), detail: placed.detail)
        if placed.optOut { call.optOut = true }
        return call
    }

    /// The report that gives back a job the agent will not dial: a retryable failure before any
    /// call (no outcome, no call log), so the job returns to the queue.
    static func giveBack(_ job: LeasedJob, because reason: String) -> AgentRunner.Report {
        .fail(
            FailJob.Params(
                jobId: job.jobId, leaseToken: job.leaseToken, retryable: true,
                error: String(reason.prefix(Self.maximumErrorLength)), outcome: nil, call: nil))
    }
}
