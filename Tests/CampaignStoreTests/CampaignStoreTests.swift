import CampaignCore
import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

@testable import CampaignStore

/// Several campaigns in one database (issue 13): shares of leases, each campaign's own limits
/// under the provider's, pause and end at the pre-dial check, audiences — against a real
/// PostgreSQL.
@Suite("Campaigns in the store")
struct CampaignStoreTests {
    static let open = EligibilityPolicy(
        workingHours: WorkingHours(startSecond: 0, endSecond: 86_400, isoWeekdays: Set(1...7)), cooldownSeconds: 0)

    static func rules(_ campaigns: [Int64: (weight: Int, maxConcurrent: Int, cap: Int)], provider: Int = 100_000) -> DialRules {
        DialRules(
            maxConcurrentCalls: provider, callsPerSecond: 10_000,
            campaigns: campaigns.mapValues {
                CampaignRules(policy: Self.open, dailyCap: $0.cap, timezone: "UTC", maxConcurrentCalls: $0.maxConcurrent, weight: $0.weight)
            })
    }

    /// A campaign with default settings (and `priority`); answers its id.
    static func campaign(
        _ store: PostgresJobStore, _ name: String, priority: Int = 10, status: CampaignStatus = .active,
        audience: CampaignAudience = .all
    ) async throws -> Int64 {
        let d = CampaignRecord.draft(
            name: name, title: name, status: status, startsAt: nil, endsAt: nil, priority: priority, audience: audience,
            settings: .wideOpen)
        return try #require(try await store.createCampaign(d, by: "test")).id
    }

    /// `n` jobs of new customers `prefix-…` in the campaign `id`.
    @discardableResult
    static func jobs(_ store: PostgresJobStore, _ n: Int, prefix: String, campaign id: Int64) async throws -> [Int64] {
        _ = try await store.upsertCustomers(TestFactory.customers(n, prefix: prefix))
        let items = (0..<n).map { i in
            EnqueueItem(customerRef: "\(prefix)-\(String(format: "%04d", i))", queueJobId: "\(prefix)-job-\(i)")
        }
        return try await store.enqueue(items, campaignIds: items.map { _ in id }, defaultMaxAttempts: 3).compactMap(\.jobId)
    }

    @Test("the migration made the default campaign; jobs that name none are its, and read as such")
    func defaultCampaign() async throws {
        let (db, store) = try await TestDatabase.migrated("campdefault")
        defer { db.drop() }
        let ids = try await TestFactory.jobs(store, count: 2)
        let all = try await store.campaigns()
        #expect(all.map(\.name) == ["default"] && all[0].id == CampaignRecord.defaultID && all[0].audience == .all)
        #expect(try db.scalar("SELECT string_agg(DISTINCT campaign_id::text, ',') FROM campaign.campaign_jobs") == "1")
        #expect(try await store.getJob(id: ids[0], queueJobId: nil)?.job.campaign == "default")
        // A taken name creates nothing.
        let again = CampaignRecord.draft(
            name: "default", title: "", status: .active, startsAt: nil, endsAt: nil, priority: 10, audience: .all,
            settings: AutomationSettings())
        #expect(try await store.createCampaign(again, by: "test") == nil)
    }

    @Test("one-job leases are shared by priority, 3 : 1, never starving the lighter campaign")
    func sharesByPriority() async throws {
        let (db, store) = try await TestDatabase.migrated("campshares")
        defer { db.drop() }
        let heavy = try await Self.campaign(store, "heavy", priority: 30)
        let light = try await Self.campaign(store, "light", priority: 10)
        try await Self.jobs(store, 100, prefix: "h", campaign: heavy)
        try await Self.jobs(store, 100, prefix: "l", campaign: light)
        let rules = Self.rules([heavy: (30, 1000, 1_000_000), light: (10, 1000, 1_000_000)])
        var order: [Int64] = []
        for _ in 0..<40 {
            let got = try await store.lease([LeaseRequest(owner: "a", max: 1)], leaseSeconds: 30, rules: rules)[0].jobs
            let job = try #require(got.first)
            order.append(try #require(try await store.getJob(id: job.jobId, queueJobId: nil)).job.campaign == "heavy" ? heavy : light)
        }
        #expect(order.filter { $0 == heavy }.count == 30 && order.filter { $0 == light }.count == 10)
        // The light campaign's leases come at least every 5th (40 / 10 + 1), from the start.
        var last = -1
        for (i, c) in order.enumerated() where c == light {
            #expect(i - last <= 5, "waited \(i - last) leases: \(order)")
            last = i
        }
        // The default campaign (not in these rules) is not leased from.
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'ACTIVE' AND campaign_id = 1") == "0")
    }

    @Test("with the pre-dial check each campaign stays under its own maxConcurrentCalls, all under the provider's")
    func ownConcurrencyUnderTheProviders() async throws {
        let (db, store) = try await TestDatabase.migrated("campconc")
        defer { db.drop() }
        let small = try await Self.campaign(store, "small", priority: 100)
        let big = try await Self.campaign(store, "big", priority: 1)
        try await Self.jobs(store, 20, prefix: "s", campaign: small)
        try await Self.jobs(store, 20, prefix: "b", campaign: big)
        let rules = Self.rules([small: (100, 2, 1_000_000), big: (1, 1000, 1_000_000)], provider: 7)
        let answer = try await store.lease([LeaseRequest(owner: "a", max: 20, dial: true)], leaseSeconds: 30, rules: rules)[0]
        #expect(answer.jobs.count == 7 && answer.retryAfterMs != nil, "\(answer.jobs.count) \(String(describing: answer.retryAfterMs))")
        let dialing = try db.scalar(
            """
            SELECT string_agg(k.name || '=' || n, ',' ORDER BY k.name) FROM (
                SELECT campaign_id, count(*) AS n FROM campaign.campaign_jobs WHERE phase = 'DIALING' GROUP BY 1) d
            JOIN campaign.campaigns k ON k.id = d.campaign_id
            """)
        // The heavy-priority campaign is held at its own 2; the light one takes the provider's rest.
        #expect(dialing == "big=5,small=2")
        // Nothing more while all are in progress.
        let more = try await store.lease([LeaseRequest(owner: "a", max: 20, dial: true)], leaseSeconds: 30, rules: rules)[0]
        #expect(more.jobs.isEmpty && more.retryAfterMs != nil)
        // The counters count each campaign's starts.
        #expect(try db.scalar(
            "SELECT string_agg(campaign_id || '=' || n, ',' ORDER BY campaign_id) FROM campaign.dial_counts_quarter")
            == "\(small)=2,\(big)=5")
    }

    @Test("each campaign's daily cap counts its own calls: one spent defers its jobs, the other's go on")
    func ownDailyCap() async throws {
        let (db, store) = try await TestDatabase.migrated("campcap")
        defer { db.drop() }
        let capped = try await Self.campaign(store, "capped")
        let free = try await Self.campaign(store, "free")
        try await Self.jobs(store, 5, prefix: "c", campaign: capped)
        try await Self.jobs(store, 5, prefix: "f", campaign: free)
        let rules = Self.rules([capped: (10, 1000, 2), free: (10, 1000, 1_000_000)])
        let answer = try await store.lease([LeaseRequest(owner: "a", max: 10, dial: true)], leaseSeconds: 30, rules: rules)[0]
        #expect(answer.jobs.count == 7)
        #expect(try db.scalar(
            """
            SELECT count(*) FROM campaign.campaign_jobs
            WHERE campaign_id = \(capped) AND status = 'QUEUED' AND result ->> 'reason' = 'daily_cap' AND attempts_made = 0
            """) == "3")
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE campaign_id = \(free) AND phase = 'DIALING'") == "5")
    }

    @Test("a paused campaign's jobs are not leased; a CLAIMED one is deferred at its check; resumed, they are")
    func pause() async throws {
        let (db, store) = try await TestDatabase.migrated("camppause")
        defer { db.drop() }
        let id = try await Self.campaign(store, "p")
        try await Self.jobs(store, 3, prefix: "p", campaign: id)
        let rules = Self.rules([id: (10, 1000, 1_000_000)])
        let claimed = try await store.lease([LeaseRequest(owner: "a", max: 1)], leaseSeconds: 30, rules: rules)[0].jobs
        #expect(claimed.count == 1)
        _ = try await store.updateCampaign(name: "p", by: "test") { c -> Result<CampaignRecord, StoreError> in
            var c = c
            c.status = .paused
            return .success(c)
        }
        #expect(try await store.lease([LeaseRequest(owner: "a", max: 3)], leaseSeconds: 30, rules: rules)[0].jobs.isEmpty)
        let check = try await store.apply(
            [JobRequest(jobId: claimed[0].jobId, leaseToken: claimed[0].leaseToken, kind: .dialing, agent: "a")],
            retry: RetryPolicy(), rules: rules)
        guard case .dialing(let d) = check[0] else { Issue.record("expected a dialing answer: \(check)"); return }
        #expect(!d.allowed && d.rule == "campaign_paused" && d.status == .queued)
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'QUEUED' AND attempts_made = 0") == "3")
        _ = try await store.updateCampaign(name: "p", by: "test") { c -> Result<CampaignRecord, StoreError> in
            var c = c
            c.status = .active
            return .success(c)
        }
        #expect(try await store.lease([LeaseRequest(owner: "a", max: 3)], leaseSeconds: 30, rules: rules)[0].jobs.count == 3)
    }

    @Test("an ended campaign: QUEUED jobs SKIPPED campaign_ended, a CLAIMED one at its check, a DIALING one finishes")
    func end() async throws {
        let (db, store) = try await TestDatabase.migrated("campend")
        defer { db.drop() }
        let id = try await Self.campaign(store, "e")
        try await Self.jobs(store, 5, prefix: "e", campaign: id)
        let rules = Self.rules([id: (10, 1000, 1_000_000)])
        let leased = try await store.lease([LeaseRequest(owner: "a", max: 2)], leaseSeconds: 30, rules: rules)[0].jobs
        let dial = try await store.apply(
            [JobRequest(jobId: leased[0].jobId, leaseToken: leased[0].leaseToken, kind: .dialing, agent: "a")],
            retry: RetryPolicy(), rules: rules)
        guard case .dialing(let d) = dial[0], d.allowed else { Issue.record("expected an allowed dial: \(dial)"); return }
        _ = try await store.updateCampaign(name: "e", by: "test") { c -> Result<CampaignRecord, StoreError> in
            var c = c
            c.status = .ended
            c.endedReason = "ended"
            return .success(c)
        }
        #expect(try await store.skipJobsOfEndedCampaigns(batch: 2) == 3, "in batches of two")
        #expect(try db.scalar(
            "SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'SKIPPED' AND result ->> 'reason' = 'campaign_ended'") == "3")
        let check = try await store.apply(
            [JobRequest(jobId: leased[1].jobId, leaseToken: leased[1].leaseToken, kind: .dialing, agent: "a")],
            retry: RetryPolicy(), rules: rules)
        guard case .dialing(let refused) = check[0] else { Issue.record("expected a dialing answer: \(check)"); return }
        #expect(!refused.allowed && refused.rule == "campaign_ended" && refused.status == .skipped)
        // The call in progress lands.
        let done = try await store.apply(
            [JobRequest(jobId: leased[0].jobId, leaseToken: leased[0].leaseToken, kind: .complete(outcome: .answered), agent: "a")],
            retry: RetryPolicy(), rules: rules)
        guard case .report(let r) = done[0] else { Issue.record("expected a report: \(done)"); return }
        #expect(r.status == .completed)
        let record = try #require(try await store.campaigns().first { $0.id == id })
        #expect(record.status == .ended && record.endedAt != nil && record.endedReason == "ended")
    }

    @Test("endsAt passing ends the campaign by itself; startsAt ahead keeps its jobs from being leased")
    func startsAndEnds() async throws {
        let (db, store) = try await TestDatabase.migrated("campends")
        defer { db.drop() }
        let late = try await Self.campaign(store, "late")
        let over = try await Self.campaign(store, "over")
        try await Self.jobs(store, 2, prefix: "l", campaign: late)
        try await Self.jobs(store, 2, prefix: "o", campaign: over)
        _ = try db.connect().query(unsafeSQL:
            "UPDATE campaign.campaigns SET starts_at = now() + interval '1 hour' WHERE name = 'late'")
        _ = try db.connect().query(unsafeSQL:
            "UPDATE campaign.campaigns SET starts_at = now() - interval '2 hours', ends_at = now() - interval '1 second' WHERE name = 'over'")
        let rules = Self.rules([late: (10, 1000, 1_000_000), over: (10, 1000, 1_000_000)])
        #expect(try await store.lease([LeaseRequest(owner: "a", max: 4)], leaseSeconds: 30, rules: rules)[0].jobs.isEmpty)
        let ended = try await store.endOverdueCampaigns(by: "test")
        #expect(ended.campaigns == 1 && ended.jobs == 2)
        #expect(try db.scalar("SELECT status::text || '/' || ended_reason FROM campaign.campaigns WHERE name = 'over'") == "ENDED/endsAt")
        #expect(try db.scalar("SELECT status::text FROM campaign.campaigns WHERE name = 'late'") == "ACTIVE")
    }

    @Test("an automatic run of a members campaign enqueues its members only, with the campaign in the job id")
    func audience() async throws {
        let (db, store) = try await TestDatabase.migrated("campaudience")
        defer { db.drop() }
        _ = try await store.upsertCustomers(TestFactory.customers(5, prefix: "m"))
        let id = try await Self.campaign(store, "vip", audience: .members)
        let change = try await store.changeMembers(campaignId: id, refs: ["m-0001", "m-0003", "m-0003", "nobody"], remove: false)
        #expect(change == .init(changed: 2, unchanged: 0, unknown: ["nobody"]))
        #expect(try await store.changeMembers(campaignId: id, refs: ["m-0001"], remove: false).unchanged == 1)
        let vip = try #require(try await store.campaigns().first { $0.id == id })
        var s = AutomationSettings.wideOpen
        s.enabled = true
        let run = try await store.automationRun(s, dryRun: false, campaign: vip)
        #expect(run.enqueued == 2)
        let day = run.date
        #expect(try db.scalar(
            "SELECT string_agg(queue_job_id, ',' ORDER BY queue_job_id) FROM campaign.campaign_jobs WHERE campaign_id = \(id)")
            == "vip/m-0001:\(day),vip/m-0003:\(day)")
        // The default campaign's run (audience all) leaves out the two with an open job elsewhere.
        let all = try await store.automationRun(s, dryRun: true)
        #expect(all.eligible == 3 && all.byReason["open_job"] == 2)
        #expect(try await store.changeMembers(campaignId: id, refs: ["m-0003"], remove: true).changed == 1)
        #expect(try await store.memberCounts([id]) == [id: 1])
    }

    @Test("retries by outcome: the outcome's delays in turn, then FAILED for good; other outcomes back off")
    func retriesByOutcome() async throws {
        let (db, store) = try await TestDatabase.migrated("campretry")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 2, maxAttempts: 5)
        var rules = DialRules.unrestricted
        rules.defaultCampaign.schedule = RetrySchedule(delays: [.noAnswer: [.after(seconds: 1800), .after(seconds: 14_400)]])
        let backoff = RetryPolicy(baseMs: 1000, factor: 1, capMs: 1000)
        /// Leases job `id` again (due now), dials it, and fails it with `outcome`; answers the report.
        func attempt(_ outcome: CallOutcome) async throws -> ReportResult? {
            _ = try db.connect().query(unsafeSQL: "UPDATE campaign.campaign_jobs SET run_at = now() WHERE status = 'QUEUED'")
            let leased = try await store.lease([LeaseRequest(owner: "a", max: 1, dial: true)], leaseSeconds: 30, rules: rules)[0].jobs
            guard let job = leased.first else { return nil }
            let out = try await store.apply(
                [JobRequest(jobId: job.jobId, leaseToken: job.leaseToken,
                            kind: .fail(retryable: true, error: "no answer", outcome: outcome), agent: "a")],
                retry: backoff, rules: rules)
            guard case .report(let r) = out[0] else { return nil }
            return r
        }
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.campaign_jobs SET status = 'SKIPPED' WHERE id = 2")
        // The delay from the failure's transaction (its updated_at), whenever this reads it.
        let delayOf = "SELECT round(extract(epoch FROM run_at - updated_at))::int FROM campaign.campaign_jobs WHERE id = 1"
        let first = try #require(try await attempt(.noAnswer))
        #expect(first.status == .queued && first.attemptsMade == 1)
        let firstDelay = Int(try db.scalar(delayOf) ?? "") ?? 0
        #expect((1799...1802).contains(firstDelay), "30m after the first: \(firstDelay)")
        let second = try #require(try await attempt(.noAnswer))
        let secondDelay = Int(try db.scalar(delayOf) ?? "") ?? 0
        #expect(second.status == .queued && (14_399...14_402).contains(secondDelay), "4h after the second: \(secondDelay)")
        // A busy line is not named: the backoff (1 s here).
        let third = try #require(try await attempt(.busy))
        let thirdDelay = Int(try db.scalar(delayOf) ?? "") ?? -1
        #expect(third.status == .queued && (0...1).contains(thirdDelay), "the backoff: \(thirdDelay)")
        // No answer on the fourth attempt: NO_ANSWER has two delays, so it fails for good.
        let fourth = try #require(try await attempt(.noAnswer))
        #expect(fourth.status == .failed && fourth.attemptsMade == 4)
    }
}
