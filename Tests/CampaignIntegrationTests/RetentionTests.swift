import CampaignCore
import CampaignCoordinator
import CampaignProtocol
@testable import CampaignStore
import CampaignTestSupport
import Foundation
import Logging
import Testing

/// Retention against a real PostgreSQL: a pass deletes exactly the rows its settings say —
/// finished jobs past their state's period, call logs past theirs (even of jobs still kept, and
/// kept when their job goes), events past theirs — and nothing else; the dry run counts the same.
@Suite("Retention")
struct RetentionTests {
    @Test func aPassDeletesExactlyWhatTheSettingsSayAndTheDryRunCountsIt() async throws {
        let (db, store) = try await TestDatabase.migrated("retention")
        defer { db.drop() }
        let jobs = try await TestFactory.jobs(store, count: 24, prefix: "rt")
        let conn = try db.connect()
        /// Gives jobs `ids` a state and a last change `days` ago.
        func set(_ ids: ArraySlice<Int64>, _ status: String, daysAgo days: Int) throws {
            _ = try conn.query(unsafeSQL: """
                UPDATE campaign.campaign_jobs SET status = '\(status)'::campaign.campaign_job_status,
                    updated_at = now() - interval '\(days) days'
                WHERE id = ANY($1::bigint[])
                """, ["{\(ids.map(String.init).joined(separator: ","))}"])
        }
        try set(jobs[0..<5], "COMPLETED", daysAgo: 40)  // go (30d)
        try set(jobs[5..<8], "COMPLETED", daysAgo: 10)  // stay
        try set(jobs[8..<10], "SKIPPED", daysAgo: 31)  // go (30d)
        try set(jobs[10..<12], "SKIPPED", daysAgo: 29)  // stay
        try set(jobs[12..<14], "FAILED", daysAgo: 100)  // go (90d)
        try set(jobs[14..<17], "FAILED", daysAgo: 60)  // stay
        try set(jobs[17..<19], "QUEUED", daysAgo: 500)  // stay: not finished, however old
        // jobs[19..<24] stay QUEUED, untouched.
        let gone = Set(jobs[0..<5] + jobs[8..<10] + jobs[12..<14])

        // Call logs: one per job of the first 10; the one of job 0 is 500 days old (goes), the
        // others 40 days (stay, even those of jobs that go).
        for (k, job) in jobs[0..<10].enumerated() {
            let age = k == 0 ? 500 : 40
            _ = try conn.query(unsafeSQL: """
                INSERT INTO campaign.call_logs (job_id, customer_id, campaign_id, attempt, agent, provider, idempotency_key,
                    started_at, outcome, created_at)
                SELECT id, customer_id, campaign_id, 1, 'a', 'simulate', queue_job_id || '#1',
                       now() - interval '\(age) days', 'ANSWERED', now() - interval '\(age) days'
                FROM campaign.campaign_jobs WHERE id = \(job)
                """)
        }
        // Events: numbered; the first 20 made 8 days old (go, 7d), the rest stay.
        while let n = try await store.numberEvents(), n.count > 0 {}
        let eventCount = Int(try db.scalar("SELECT count(*) FROM campaign.job_events") ?? "") ?? -1
        #expect(eventCount == 24 + 17, "one per enqueue, one per change of state (the two made QUEUED already were)")
        _ = try conn.query(unsafeSQL: "UPDATE campaign.job_events SET at = now() - interval '8 days' WHERE seq <= 20")

        // The law's audit: of 5 refusals and 4 suppression changes, 4 and 3 are older than the call logs' 400 days.
        _ = try conn.query(unsafeSQL: """
            INSERT INTO campaign.dial_refusals (at, job_id, campaign_id, customer_id, phone, rule, by)
            SELECT now() - make_interval(days => CASE WHEN i = 0 THEN 1 ELSE 401 END), 1, 1, 1, '+442079460001', 'suppressed', 'a'
            FROM generate_series(0, 4) i
            """)
        _ = try conn.query(unsafeSQL: """
            INSERT INTO campaign.suppression_changes (at, phone, action, by)
            SELECT now() - make_interval(days => CASE WHEN i = 0 THEN 1 ELSE 401 END), '+442079460001', 'added', 'uid:0'
            FROM generate_series(0, 3) i
            """)
        let policy = RetentionSetting().policy
        let cutoffs = policy.cutoffs(now: Date().timeIntervalSince1970)
        let expected = PruneCounts(completed: 5, skipped: 2, failed: 2, callLogs: 1, events: 20, audit: 7)
        #expect(try await store.prunable(cutoffs) == expected)

        // Small batches: the pass walks several slices of each kind.
        let pruner = RetentionPruner(store: store, logger: Logger(label: "t"), batch: 3, pause: .zero)
        #expect(try await pruner.pass(policy) == expected)
        let left = Set(try conn.query(unsafeSQL: "SELECT id FROM campaign.campaign_jobs").all.map { try $0.int64("id") })
        #expect(left == Set(jobs).subtracting(gone))
        let logs = try conn.query(unsafeSQL: "SELECT job_id FROM campaign.call_logs ORDER BY job_id").all.map { try $0.int64("job_id") }
        #expect(logs == Array(jobs[1..<10]), "the old one went; those of deleted jobs stayed")
        #expect(try db.scalar("SELECT min(seq) FROM campaign.job_events") == "21")
        #expect(try db.scalar("SELECT (SELECT count(*) FROM campaign.dial_refusals) + (SELECT count(*) FROM campaign.suppression_changes)") == "2")
        // Call logs of deleted jobs are still listed, with their campaign and customer.
        let listed = try await store.listCalls(ListCalls.Params(limit: 100))
        #expect(listed.calls.count == 9)
        #expect(listed.calls.allSatisfy { $0.campaign == "default" && $0.customerRef?.hasPrefix("rt-") == true })
        // A second pass finds nothing more.
        #expect(try await pruner.pass(policy) == PruneCounts())
        #expect(try await store.prunable(cutoffs) == PruneCounts())

        // `forever` keeps a kind whatever its age.
        var keep = RetentionSetting()
        keep.FAILED = "forever"
        keep.callLogs = "forever"
        try set(jobs[14..<15], "FAILED", daysAgo: 10_000)
        #expect(try await pruner.pass(keep.policy) == PruneCounts())
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE id = \(jobs[14])") == "1")
    }

    /// The leader's round starts the hourly pass by itself (in the background); a follower's does not.
    @Test func theLeaderPrunesByItselfAndAFollowerDoesNot() async throws {
        let (db, store) = try await TestDatabase.migrated("retleader")
        defer { db.drop() }
        let jobs = try await TestFactory.jobs(store, count: 4, prefix: "rl")
        _ = try db.connect().query(unsafeSQL: """
            UPDATE campaign.campaign_jobs SET status = 'COMPLETED', updated_at = now() - interval '31 days'
            WHERE id = ANY($1::bigint[])
            """, ["{\(jobs[0]),\(jobs[1])}"])
        let c = Coordinator(
            configuration: .init(coordinatorID: "r", version: "t"), store: db.makeStore(poolSize: 2), logger: Logger(label: "r"))
        let maintenance = MaintenanceService(coordinator: c, logger: Logger(label: "m"))
        await maintenance.tick(leaseSeconds: 60)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs") == "4", "a follower prunes nothing")
        c.isLeader.withLockedValue { $0 = true }
        await maintenance.tick(leaseSeconds: 60)
        var left = ""
        for _ in 0..<50 {
            left = try db.scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM campaign.campaign_jobs") ?? ""
            if left == "\(jobs[2]),\(jobs[3])" { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(left == "\(jobs[2]),\(jobs[3])")
    }

    @Test func periodsParseAndCutoffsFollow() {
        #expect(Retention.Period("30d") == .seconds(30 * 86_400))
        #expect(Retention.Period("12h") == .seconds(12 * 3600))
        #expect(Retention.Period("forever") == .forever)
        for bad in ["", "0d", "-1d", "30", "d", "1.5d", "30m", "36501d", "030d", "+3d", "30D", "never"] {
            #expect(Retention.Period(bad) == nil, "\(bad)")
        }
        #expect(Retention.Period("36500d") != nil && Retention.Period("1h") != nil)
        #expect(Retention.Period("48h")?.description == "2d" && Retention.Period("36h")?.description == "36h")
        let r = RetentionSetting().policy
        let c = r.cutoffs(now: 1_000_000_000)
        #expect(c.completed == 1_000_000_000 - 30 * 86_400 && c.failed == 1_000_000_000 - 90 * 86_400)
        #expect(c.events == 1_000_000_000 - 7 * 86_400 && c.callLogs == 1_000_000_000 - 400 * 86_400)
        var s = AutomationSettings()
        s.retention.events = "2x"
        #expect(s.problems().contains { $0.hasPrefix("retention.events") })
    }
}
