import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import CampaignTestSupport
import Foundation
import Testing

/// Unknown outcomes settled from the provider (issue 16), against a real coordinator and
/// PostgreSQL: which jobs `jobs.reconcile` hands out and when, what a lookup's report does to
/// the job and its call log, and `jobs.reconcileNow`.
@Suite("Reconciliation of unknown outcomes")
struct ReconcileTests {
    static func settings(interval: Int = 1, window: Int = 3600) -> AutomationSettings {
        var s = AutomationSettings.wideOpen
        s.reconcileIntervalSeconds = interval
        s.reconcileWindowSeconds = window
        s.maxAttempts = 1
        return s
    }

    /// Leases and dials every job, then makes each outcome unknown: the first `reported` of them by
    /// the agent's own report (with a call log of `provider`), the others by their lease running
    /// out while DIALING (no call log). Returns the leased jobs by id.
    static func unknownJobs(
        _ h: CoordinatorHarness, _ c: RPCClient, count: Int, reported: Int, provider: String = "http"
    ) async throws -> [Int64: LeasedJob] {
        _ = try await TestFactory.jobs(h.store, count: count, maxAttempts: 1)
        _ = try await c.call(AgentHello.self, .init(agentId: "a", capacity: count, version: "t"))
        let leased = try await c.call(LeaseJobs.self, .init(max: count, dial: true)).jobs
        #expect(leased.count == count)
        for job in leased.prefix(reported) {
            let call = CallRecord(
                provider: provider, providerCallId: "call-\(job.jobId)", idempotencyKey: job.idempotencyKey!,
                startedAt: nil, endedAt: nil, outcome: .failed, durationMs: nil,
                detail: ["outcomeKnown": false, "error": "the call had not ended at its hard limit"])
            let r = try await c.call(FailJob.self, .init(
                jobId: job.jobId, leaseToken: job.leaseToken, retryable: false, error: "outcome unknown", outcome: .failed,
                call: call, outcomeUnknown: true))
            #expect(r.status == .failed)
        }
        _ = try h.db.connect().query(unsafeSQL:
            "UPDATE campaign.campaign_jobs SET lease_expires_at = now() - interval '1 second' WHERE status = 'ACTIVE'")
        _ = try await h.store.expireLeases()
        #expect(try h.db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE outcome_unknown AND status = 'FAILED'")
            == String(count))
        return Dictionary(uniqueKeysWithValues: leased.map { ($0.jobId, $0) })
    }

    @Test func unknownJobsAreHandedOutOncePerIntervalWithTheirKeysAndCallIds() async throws {
        try await CoordinatorHarness.run("reconcilehand", settings: Self.settings(interval: 2)) { h in
            try await h.client { c in
                let jobs = try await Self.unknownJobs(h, c, count: 4, reported: 2)
                let first = try await c.call(ReconcileJobs.self, .init(max: 3, provider: "http"))
                let second = try await c.call(ReconcileJobs.self, .init(max: 10, provider: "http"))
                // Together all four, each once: the batch's limit holds, nobody gets one twice.
                #expect(first.calls.count == 3)
                #expect(Set((first.calls + second.calls).map(\.jobId)) == Set(jobs.keys))
                #expect(first.calls.count + second.calls.count == 4)
                for call in first.calls + second.calls {
                    let job = jobs[call.jobId]!
                    #expect(call.leaseToken == job.leaseToken && call.idempotencyKey == job.idempotencyKey)
                    #expect(call.customer == job.customer && call.attempt == 1 && call.lookups == 1)
                    // The agent's own report logged the provider's id; an expired lease has no call log.
                    let reported = Array(jobs.keys.sorted()).prefix(2).contains(call.jobId)
                    #expect(call.providerCallId == (reported ? "call-\(call.jobId)" : nil))
                    #expect(call.provider == (reported ? "http" : nil))
                }
                // Within the interval nothing more; after it, again, each counted once more.
                #expect(try await c.call(ReconcileJobs.self, .init(max: 10, provider: "http")).calls.isEmpty)
                try await Task.sleep(for: .milliseconds(2200))
                let again = try await c.call(ReconcileJobs.self, .init(max: 10, provider: "http"))
                #expect(again.calls.count == 4 && again.calls.allSatisfy { $0.lookups == 2 })
            }
        }
    }

    @Test func anotherPlacersCallsAndJobsPastTheWindowAreNotHandedOutUnlessAnAdminAsks() async throws {
        try await CoordinatorHarness.run("reconcilewindow", settings: Self.settings(interval: 1, window: 0)) { h in
            try await h.client { c in
                let jobs = try await Self.unknownJobs(h, c, count: 2, reported: 1, provider: "exec")
                // Window 0: no lookups by themselves.
                #expect(try await c.call(ReconcileJobs.self, .init(max: 10, provider: "http")).calls.isEmpty)
                let ids = jobs.keys.sorted()
                let asked = try await c.call(ReconcileJobsNow.self, .init(ids: ids + [999_999]))
                #expect(asked.changed == ids)
                #expect(asked.rejected == [JobRefusal(id: 999_999, status: nil, code: "NOT_FOUND")])
                // An http agent gets the job without a call log, not the one the exec placer logged.
                let http = try await c.call(ReconcileJobs.self, .init(max: 10, provider: "http"))
                #expect(http.calls.map(\.jobId) == [ids[1]])
                let exec = try await c.call(ReconcileJobs.self, .init(max: 10, provider: "exec"))
                #expect(exec.calls.map(\.jobId) == [ids[0]])
                // A job whose outcome is known is refused.
                _ = try await TestFactory.jobs(h.store, count: 1, prefix: "other")
                let queued = try h.db.scalar("SELECT id FROM campaign.campaign_jobs WHERE status = 'QUEUED'")!
                let refused = try await c.call(ReconcileJobsNow.self, .init(ids: [Int64(queued)!]))
                #expect(refused.rejected == [JobRefusal(id: Int64(queued)!, status: .queued, code: "INVALID_STATE")])
            }
        }
    }

    @Test func aLookedUpOutcomeReplacesTheUnknownOneAndNoSuchCallDialsOnceMore() async throws {
        try await CoordinatorHarness.run("reconcilereport", settings: Self.settings()) { h in
            try await h.client { c in
                let jobs = try await Self.unknownJobs(h, c, count: 2, reported: 1)
                let calls = try await c.call(ReconcileJobs.self, .init(max: 10, provider: "http")).calls
                let (a, b) = (calls.first { $0.providerCallId != nil }!, calls.first { $0.providerCallId == nil }!)

                // The provider knew a's end: ANSWERED, as a late report with the lookup's detail.
                let record = CallRecord(
                    provider: "http", providerCallId: a.providerCallId, idempotencyKey: a.idempotencyKey, startedAt: nil,
                    endedAt: nil, outcome: .answered, durationMs: 4200, detail: ["reconciled": true, "lookups": 1])
                let done = try await c.call(CompleteJob.self, .init(
                    jobId: a.jobId, leaseToken: a.leaseToken, outcome: .answered, call: record))
                #expect(done.status == .completed)
                // Its one call log now says so (the unknown one was replaced, not doubled).
                let log = try h.db.connect().query(unsafeSQL:
                    "SELECT outcome, detail ->> 'reconciled' AS r, provider_call_id, count(*) OVER () AS n FROM campaign.call_logs WHERE job_id = $1",
                    [String(a.jobId)]).all
                #expect(log.count == 1 && log[0]["outcome"] == "ANSWERED" && log[0]["r"] == "true")
                #expect(log[0]["provider_call_id"] == a.providerCallId)
                // A resend replays; a late "unknown" after the known outcome changes nothing.
                #expect(try await c.call(CompleteJob.self, .init(
                    jobId: a.jobId, leaseToken: a.leaseToken, outcome: .answered, call: record)).replayed)

                // The provider had no call under b's key: queued again once, with an attempt more.
                let notPlaced = FailJob.Params(
                    jobId: b.jobId, leaseToken: b.leaseToken, retryable: true, error: "not placed: no such call",
                    outcome: nil, call: nil, notPlaced: true)
                let requeued = try await c.call(FailJob.self, notPlaced)
                #expect(requeued.status == .queued && requeued.result?["reason"]?.stringValue == "not_placed")
                #expect(try await c.call(FailJob.self, notPlaced).replayed)
                #expect(try h.db.scalar("SELECT max_attempts || '/' || attempts_made || '/' || outcome_unknown FROM campaign.campaign_jobs WHERE id = \(b.jobId)")
                    == "2/1/false")
                // It is leased as attempt 2 under a fresh key; the old lease's reports are lost.
                let again = try await c.call(LeaseJobs.self, .init(max: 10, dial: true)).jobs
                #expect(again.map(\.jobId) == [b.jobId])
                #expect(again[0].attempt == 2 && again[0].idempotencyKey != jobs[b.jobId]!.idempotencyKey)
                await #expect(throws: RPCError.self) {
                    _ = try await c.call(CompleteJob.self, .init(jobId: b.jobId, leaseToken: b.leaseToken, outcome: .answered, call: nil))
                }
                // Nothing is left to look up.
                #expect(try await c.call(ReconcileJobs.self, .init(max: 10, provider: "http")).calls.isEmpty)
                // notPlaced with a call record is refused as invalid.
                await #expect(throws: RPCError.self) {
                    _ = try await c.call(FailJob.self, .init(
                        jobId: b.jobId, leaseToken: again[0].leaseToken, retryable: true, error: "x", outcome: nil,
                        call: record, notPlaced: true))
                }
            }
        }
    }
}
