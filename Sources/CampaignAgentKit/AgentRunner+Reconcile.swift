import CampaignCore
import CampaignProtocol
import CampaignRPC
import Foundation
import Logging
import ServiceLifecycle

// MARK: Unknown outcomes looked up at the provider (issue 16)

extension AgentRunner {
    /// Every `poll`, while not shutting down: asks the coordinator for jobs whose outcome is
    /// unknown (`jobs.reconcile`), looks each up at the provider, and reports what it learnt.
    func reconcileLoop(every poll: Duration) async {
        while !Task.isShuttingDownGracefully {
            await self.pause(poll)
            guard !Task.isShuttingDownGracefully, let client = await self.link.client(waitingUpTo: .seconds(1)) else {
                continue
            }
            let calls: [UnknownCall]
            do {
                calls = try await client.call(
                    ReconcileJobs.self,
                    .init(max: min(self.configuration.reconcileBatch, ReconcileJobs.maximumJobs), provider: self.placer.provider))
                    .calls
            } catch {
                self.logger.debug("jobs.reconcile failed", metadata: ["error": "\(error)"])
                continue
            }
            for call in calls where !Task.isShuttingDownGracefully {
                await self.reconcile(call)
            }
        }
    }

    /// Sleeps `duration`, in steps, returning early once shutdown began.
    private func pause(_ duration: Duration) async {
        let until = ContinuousClock.now + duration
        while !Task.isShuttingDownGracefully && ContinuousClock.now < until {
            try? await Task.sleep(for: min(.milliseconds(250), until - .now))
        }
    }

    /// Looks one call up and reports what the provider said: its end (a normal late report with
    /// `detail.reconciled`), or that it has no such call (`notPlaced`); nothing when it is not known yet.
    func reconcile(_ call: UnknownCall) async {
        let logger = JobLogger(base: self.logger, jobId: call.jobId)
        let answer = await self.placer.lookup(LookupRequest(call: call, deadline: .now + self.configuration.lookupTimeout))
        guard let report = Self.lookupReport(answer, call: call, provider: self.placer.provider, policy: self.configuration.outcomePolicy)
        else {
            self.metrics.lookups.increment("unknown")
            if case .unknown(let why) = answer {
                logger.info("lookup: outcome still unknown", metadata: ["lookups": "\(call.lookups)", "why": "\(why)"])
            }
            return
        }
        switch answer {
        case .ended(let placed):
            self.metrics.lookups.increment("ended")
            logger.notice("lookup: the provider knows the call's end", metadata: ["outcome": "\(placed.outcome.rawValue)"])
        case .notPlaced(let why):
            self.metrics.lookups.increment("not_placed")
            logger.warning("lookup: the provider has no such call; the job is queued again", metadata: ["why": "\(why)"])
        case .unknown:
            break
        }
        await self.send(report, logger: logger)
    }

    /// The report a lookup's answer makes (nil: none, the outcome is still unknown). Pure.
    static func lookupReport(
        _ answer: LookupAnswer, call: UnknownCall, provider: String, policy: OutcomePolicy
    ) -> Report? {
        let job = LeasedJob(
            jobId: call.jobId, queueJobId: call.queueJobId, leaseToken: call.leaseToken, attempt: call.attempt,
            maxAttempts: call.maxAttempts, leaseExpiresAt: "", reason: call.reason, customer: call.customer,
            idempotencyKey: call.idempotencyKey)
        switch answer {
        case .unknown:
            return nil
        case .notPlaced(let why):
            return .fail(FailJob.Params(
                jobId: call.jobId, leaseToken: call.leaseToken, retryable: true,
                error: String("not placed: \(why)".prefix(ReportPlan.maximumErrorLength)), outcome: nil, call: nil,
                notPlaced: true))
        case .ended(var placed):
            var detail: [String: JSONValue] = if case .object(let d)? = placed.detail { d } else { [:] }
            detail["reconciled"] = .bool(true)
            detail["lookups"] = .int(Int64(call.lookups))
            placed.detail = .object(detail)
            if placed.providerCallId == nil { placed.providerCallId = call.providerCallId }
            placed.outcomeKnown = true
            placed.callPlaced = true
            let now = Date()
            var record = ReportPlan.callRecord(
                for: placed, provider: call.provider ?? provider, idempotencyKey: call.idempotencyKey, startedAt: now,
                endedAt: now)
            // When the call started and ended is the provider's to say; the lookup only knows its length.
            record.startedAt = nil
            record.endedAt = nil
            record.durationMs = placed.durationMs
            return ReportPlan.make(for: placed, job: job, call: record, policy: policy).report
        }
    }
}
