import CampaignCore
import CampaignCoordinator
import CampaignProtocol
import CampaignRPC
import CampaignStore
import CampaignTestSupport
import Foundation
import Logging
import Testing

/// automation.run and the pre-dial rules against a real PostgreSQL.
@Suite("Automation")
struct AutomationTests {
    static func coordinator(_ db: TestDatabase, _ name: String) -> Coordinator {
        let logger = Logger(label: name)
        let store = db.makeStore(poolSize: 2)
        return Coordinator(configuration: .init(coordinatorID: name, version: "t"), store: store, logger: logger)
    }

    static var allDay: AutomationSettings {
        var s = AutomationSettings.wideOpen
        s.enabled = true
        return s
    }

    @Test func twoCoordinatorsRunningAtOnceNeverExceedTheCap() async throws {
        let (db, store) = try await TestDatabase.migrated("capcap")
        defer { db.drop() }
        _ = try await store.upsertCustomers(TestFactory.customers(2000))
        var s = Self.allDay
        s.dailyCap = 537
        try await store.writeSettings(s, by: "test")
        let a = Self.coordinator(db, "a")
        let b = Self.coordinator(db, "b")
        async let ra = a.runAutomation(dryRun: false, by: nil)
        async let rb = b.runAutomation(dryRun: false, by: nil)
        let (x, y) = try await (ra, rb)
        #expect(x.enqueued + y.enqueued == 537, "\(x.enqueued) + \(y.enqueued)")
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE auto_date IS NOT NULL") == "537")
        // The cap counts the jobs still to dial: a third run has nothing left to spend.
        let z = try await a.runAutomation(dryRun: false, by: nil)
        #expect(z.enqueued == 0 && z.capRemaining == 0)
        // The queue job id names the customer and the campaign-local date (AutomaticQueueJobID).
        let key = try #require(try db.scalar("SELECT queue_job_id FROM campaign.campaign_jobs ORDER BY id LIMIT 1"))
        #expect(key.hasPrefix("cust-0000:") && key.hasSuffix(x.date))
        let rows = try db.connect().query(unsafeSQL: 
            "SELECT j.queue_job_id, c.external_ref FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id WHERE j.auto_date IS NOT NULL")
        #expect(rows.count == 537)
        let mismatched = (0..<rows.count).filter {
            rows[$0, 0] != AutomaticQueueJobID(externalRef: rows[$0, 1] ?? "", date: x.date).description
        }
        #expect(mismatched.isEmpty, "\(mismatched.count) ids not <externalRef>:<date>")
    }

    @Test func dryRunCountsAndEnqueuesNothingAndReasonsAddUp() async throws {
        let (db, store) = try await TestDatabase.migrated("dryrun")
        defer { db.drop() }
        var customers = TestFactory.customers(100)
        for i in 0..<10 { customers[i].status = .optedOut }
        _ = try await store.upsertCustomers(customers)
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.customers SET last_called_at = now() WHERE id BETWEEN 11 AND 15")
        _ = try await store.enqueue([EnqueueItem(customerRef: "cust-0020", queueJobId: "manual-1")], defaultMaxAttempts: 3)
        var s = Self.allDay
        s.cooldownMinutes = 60
        s.dailyCap = 50
        try await store.writeSettings(s, by: "test")
        let c = Self.coordinator(db, "c")
        let dry = try await c.runAutomation(dryRun: true, by: nil)
        #expect(dry.enqueued == 0 && dry.dryRun)
        #expect(dry.considered == 100)
        #expect(dry.leftOut["not_active"] == 10 && dry.leftOut["cooldown"] == 5 && dry.leftOut["open_job"] == 1)
        // 84 eligible, the manual job already spends one call of the cap: 49 fit, 35 wait for tomorrow.
        #expect(dry.eligible == 49 && dry.leftOut["daily_cap"] == 35 && dry.capRemaining == 49)
        #expect(dry.considered == dry.eligible + dry.leftOut.values.reduce(0, +))
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs") == "1")
        let real = try await c.runAutomation(dryRun: false, by: nil)
        #expect(real.enqueued == 49)
    }

    @Test func theLeaderRunsAutomationWhenEnabledAndStopsWhenDisabled() async throws {
        let (db, store) = try await TestDatabase.migrated("autorun")
        defer { db.drop() }
        _ = try await store.upsertCustomers(TestFactory.customers(30))
        var s = Self.allDay
        s.dailyCap = 10
        try await store.writeSettings(s, by: "test")
        let c = Self.coordinator(db, "c")
        let maintenance = MaintenanceService(coordinator: c, logger: Logger(label: "m"))
        // A follower does not run it.
        await maintenance.tick(leaseSeconds: 60)
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs") == "0")
        // Call starts four days ago and two days ago (neither counts for today's cap), and 100 ms
        // counters of twenty minutes ago (older than any rate window).
        _ = try await TestFactory.jobs(store, count: 1, prefix: "old")
        _ = try db.connect().query(unsafeSQL: """
            INSERT INTO campaign.dial_counts_quarter (bucket, n)
            VALUES (to_timestamp(floor(extract(epoch FROM now() - interval '4 days') / 900) * 900), 7),
                   (to_timestamp(floor(extract(epoch FROM now() - interval '2 days') / 900) * 900), 5)
            """)
        _ = try db.connect().query(unsafeSQL: """
            INSERT INTO campaign.dial_counts_tick (bucket, n)
            VALUES (to_timestamp(floor(extract(epoch FROM now() - interval '20 minutes') * 10) / 10), 3)
            """)
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.campaign_jobs SET status = 'COMPLETED'")
        c.isLeader.withLockedValue { $0 = true }
        await maintenance.tick(leaseSeconds: 60)
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE reason = 'automation'") == "10")
        // The leader forgets counters older than three days (and 100 ms ones older than ten minutes).
        #expect(try db.scalar("SELECT string_agg(n::text, ',') FROM campaign.dial_counts_quarter") == "5")
        #expect(try db.scalar("SELECT count(*) FROM campaign.dial_counts_tick") == "0")
        // Disabled: no new enqueues, even on a fresh leader whose first tick would otherwise run
        // at once (as the first leader's did above), with cap to spare.
        s.enabled = false
        s.dailyCap = 20
        try await c.store.writeSettings(s, by: "test")
        _ = try await c.settings(fresh: true)
        let fresh = MaintenanceService(coordinator: c, logger: Logger(label: "m2"))
        await fresh.tick(leaseSeconds: 60)
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE reason = 'automation'") == "10")
        // Enabled again, that same fresh leader runs at once.
        s.enabled = true
        try await c.store.writeSettings(s, by: "test")
        _ = try await c.settings(fresh: true)
        await fresh.tick(leaseSeconds: 60)
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE reason = 'automation'") == "20")
    }

    /// The leader runs each ACTIVE campaign's automation on its own cadence: a paused campaign's
    /// not at all until resumed, and a campaign past its `endsAt` ends (its queue skipped).
    @Test func theLeaderRunsEachActiveCampaignAndNotAPausedOne() async throws {
        let (db, store) = try await TestDatabase.migrated("autocampaigns")
        defer { db.drop() }
        _ = try await store.upsertCustomers(TestFactory.customers(6))
        var s = Self.allDay
        s.enabled = false  // the default campaign's own automation stays off
        try await store.writeSettings(s, by: "test")
        for (name, status) in [("open", CampaignStatus.active), ("held", .paused)] {
            let d = CampaignRecord.draft(
                name: name, title: name, status: status, startsAt: nil, endsAt: nil, priority: 10, audience: .all,
                settings: Self.allDay)
            _ = try #require(try await store.createCampaign(d, by: "test"))
        }
        let c = Self.coordinator(db, "c")
        c.isLeader.withLockedValue { $0 = true }
        let maintenance = MaintenanceService(coordinator: c, logger: Logger(label: "m"))
        let byCampaign = """
            SELECT coalesce(string_agg(k.name || '=' || n, ',' ORDER BY k.name), '') FROM (
                SELECT campaign_id, count(*) AS n FROM campaign.campaign_jobs WHERE reason = 'automation' GROUP BY 1) j
            JOIN campaign.campaigns k ON k.id = j.campaign_id
            """
        await maintenance.tick(leaseSeconds: 60)
        #expect(try db.scalar(byCampaign) == "open=6", "only the ACTIVE campaign with automation on")
        // Resumed: its first round runs at once. (Those customers' calls in `open` done first: a
        // customer with an open job in one campaign is not enqueued by another.)
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.campaign_jobs SET status = 'COMPLETED'")
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.campaigns SET status = 'ACTIVE' WHERE name = 'held'")
        _ = try await c.settings(fresh: true)  // reads every campaign again
        await maintenance.tick(leaseSeconds: 60)
        #expect(try db.scalar(byCampaign) == "held=6,open=6")
        // Past its endsAt, a campaign ends at the next round, and its waiting jobs are skipped.
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.campaigns SET ends_at = now() WHERE name = 'held'")
        await maintenance.tick(leaseSeconds: 60)
        #expect(try db.scalar("SELECT status::text || '/' || ended_reason FROM campaign.campaigns WHERE name = 'held'") == "ENDED/endsAt")
        #expect(try db.scalar("""
            SELECT count(*) FROM campaign.campaign_jobs j JOIN campaign.campaigns k ON k.id = j.campaign_id
            WHERE k.name = 'held' AND j.status = 'SKIPPED' AND j.result ->> 'reason' = 'campaign_ended'
            """) == "6")
    }

    @Test func disabledAutomationRefusesARealRunButNotADryRun() async throws {
        let (db, store) = try await TestDatabase.migrated("disabled")
        defer { db.drop() }
        try await store.writeSettings(.wideOpen, by: "test")  // enabled = false
        let c = Self.coordinator(db, "c")
        await #expect(throws: RPCError.self) { try await c.runAutomation(dryRun: false, by: nil) }
        do {
            _ = try await c.runAutomation(dryRun: false, by: nil)
        } catch let e as RPCError {
            #expect(e.symbol == "AUTOMATION_DISABLED")
        }
        #expect(try await c.runAutomation(dryRun: true, by: nil).dryRun)
    }

    @Test func thePreDialCheckDefersOutsideWorkingHoursAndOverTheCap() async throws {
        let (db, store) = try await TestDatabase.migrated("predial")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 3)
        let jobs = try await store.lease(owner: "a", max: 3, leaseSeconds: 30)
        let retry = RetryPolicy()
        // Working hours that never include now: a window on a weekday other than today's, everywhere.
        var closed = DialRules.unrestricted
        let today = LocalTime(Date(), TimeZone(identifier: "America/New_York")!).isoWeekday
        closed.defaultCampaign.policy.windows = CallingWindows(WorkingHours(startSecond: 0, endSecond: 60, isoWeekdays: [today % 7 + 1]))
        let deferred = try await store.apply(
            [JobRequest(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, kind: .dialing, agent: "a")], retry: retry,
            rules: closed)
        guard case .dialing(let d) = deferred[0] else {
            Issue.record("expected a dialing answer: \(deferred)")
            return
        }
        // Back in the queue until the window opens on the customer's clock, the attempt given back.
        #expect(!d.allowed && d.rule == "outside_working_hours" && d.status == .queued && d.idempotencyKey == nil)
        let row = try #require(try db.connect().query(unsafeSQL:
            """
            SELECT status::text, attempts_made, campaign.ts(run_at) AS run_at, run_at > now() + interval '1 minute' AS later,
                   result ->> 'reason' AS reason, result ->> 'deferred' AS deferred, lease_owner, phase
            FROM campaign.campaign_jobs WHERE id = $1::bigint
            """, [String(jobs[0].jobId)]).all.first)
        #expect(row["status"] == "QUEUED" && row["attempts_made"] == "0" && row["later"] == "t")
        #expect(row["run_at"] == d.runAt && d.runAt != nil)
        #expect(row["reason"] == "outside_working_hours" && row["deferred"] == "true")
        #expect(row["lease_owner"] == nil && row["phase"] == nil)
        // Not due: a lease now does not find it.
        #expect(try await store.lease(owner: "b", max: 3, leaseSeconds: 30).isEmpty)
        // The same check again with that lease's token is a replay of the same answer.
        let again = try await store.apply(
            [JobRequest(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, kind: .dialing, agent: "a")], retry: retry,
            rules: .unrestricted)
        #expect(again == deferred)
        // A cap of one call: the first is allowed, the second deferred to tomorrow as daily_cap.
        var capped = DialRules.unrestricted
        capped.defaultCampaign.dailyCap = 1
        let two = try await store.apply(
            jobs[1...].map { JobRequest(jobId: $0.jobId, leaseToken: $0.leaseToken, kind: .dialing, agent: "a") },
            retry: retry, rules: capped)
        guard case .dialing(let first) = two[0], case .dialing(let second) = two[1] else {
            Issue.record("expected dialing answers: \(two)")
            return
        }
        #expect(first.allowed && !second.allowed && second.rule == "daily_cap" && second.status == .queued)
        #expect(try db.scalar("SELECT sum(n) FROM campaign.dial_counts_quarter") == "1")
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'SKIPPED'") == "0")
    }

    @Test func aLeaseWithTheCheckLeavesDeferredJobsQueuedWithTheirAttempts() async throws {
        let (db, store) = try await TestDatabase.migrated("predialease")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 4)
        var closed = DialRules.unrestricted
        let today = LocalTime(Date(), TimeZone(identifier: "America/New_York")!).isoWeekday
        closed.defaultCampaign.policy.windows = CallingWindows(WorkingHours(startSecond: 0, endSecond: 60, isoWeekdays: [today % 7 + 1]))
        let answers = try await store.lease([LeaseRequest(owner: "a", max: 4, dial: true)], leaseSeconds: 30, rules: closed)
        // None leased, none refused: all four wait in the queue for the window, no attempt spent, no call counted.
        #expect(answers[0].jobs.isEmpty && answers[0].refused.isEmpty)
        #expect(try db.scalar(
            """
            SELECT count(*) FROM campaign.campaign_jobs
            WHERE status = 'QUEUED' AND attempts_made = 0 AND run_at > now() + interval '1 minute'
              AND result ->> 'reason' = 'outside_working_hours' AND last_report IS NULL
            """) == "4")
        #expect(try db.scalar("SELECT coalesce(sum(n), 0) FROM campaign.dial_counts_quarter") == "0")
        #expect(try await store.lease([LeaseRequest(owner: "a", max: 4, dial: true)], leaseSeconds: 30, rules: .unrestricted)[0].jobs.isEmpty)
    }

    /// Today's calls are the quarter-hour counters from the campaign's local midnight on
    /// (Kathmandu, UTC+05:45: midnight is not on a whole UTC hour), whatever came before it.
    @Test func theDailyCapCountsTheCountersSinceLocalMidnightOnly() async throws {
        let (db, store) = try await TestDatabase.migrated("capday")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 3)
        let jobs = try await store.lease(owner: "a", max: 3, leaseSeconds: 30)
        let midnight = """
            (date_trunc('day', clock_timestamp() AT TIME ZONE 'Asia/Kathmandu') AT TIME ZONE 'Asia/Kathmandu')
            """
        // 50 calls in the quarter hour before midnight, 2 in the quarter hour that starts at it.
        _ = try db.connect().query(unsafeSQL: """
            INSERT INTO campaign.dial_counts_quarter (bucket, n)
            VALUES (\(midnight) - interval '15 minutes', 50), (\(midnight), 2)
            """)
        var rules = DialRules.unrestricted
        rules.defaultCampaign.timezone = "Asia/Kathmandu"
        rules.defaultCampaign.dailyCap = 3
        let out = try await store.apply(
            jobs.map { JobRequest(jobId: $0.jobId, leaseToken: $0.leaseToken, kind: .dialing, agent: "a") },
            retry: RetryPolicy(), rules: rules)
        let allowed = out.map { o -> Bool in if case .dialing(let d) = o { return d.allowed } else { return false } }
        #expect(allowed == [true, false, false], "\(out)")
        // The start was added to the counters of its instant.
        #expect(try db.scalar("SELECT sum(n) FROM campaign.dial_counts_quarter") == "53")
        #expect(try db.scalar("SELECT sum(n) FROM campaign.dial_counts_tick") == "1")
    }

    /// `jobs.lease` with `dial: true`: two agents' leases in one group commit, each job leased
    /// and passed through the pre-dial check in the same transaction — DIALING with its key, or
    /// SKIPPED with the rule — and a provider limit leaves what it holds back QUEUED.
    @Test func leaseAndDialDecidesTheCheckInTheLeaseTransaction() async throws {
        let (db, store) = try await TestDatabase.migrated("leasedial")
        defer { db.drop() }
        let ids = try await TestFactory.jobs(store, count: 6)
        // The customer of the second job opted out after it was enqueued.
        _ = try db.connect().query(unsafeSQL: 
            "UPDATE campaign.customers SET status = 'OPTED_OUT' WHERE id = (SELECT customer_id FROM campaign.campaign_jobs WHERE id = $1)",
            [String(ids[1])])
        var rules = DialRules.unrestricted
        rules.maxConcurrentCalls = 3
        let answers = try await store.lease(
            [LeaseRequest(owner: "a", max: 2, dial: true), LeaseRequest(owner: "b", max: 4, dial: true)],
            leaseSeconds: 30, rules: rules)
        // Three calls may start (the limit); the opted-out job is refused without spending one.
        #expect(answers[0].jobs.map(\.jobId) == [ids[0]] && answers[0].refused == [DialRefusal(jobId: ids[1], rule: "not_active")])
        #expect(answers[1].jobs.map(\.jobId) == [ids[2], ids[3]], "\(answers[1])")
        #expect(answers[1].retryAfterMs != nil && answers[0].retryAfterMs == nil)
        for job in answers[0].jobs + answers[1].jobs {
            #expect(job.idempotencyKey == "\(job.queueJobId)#1" && job.attempt == 1 && !job.leaseExpiresAt.isEmpty)
        }
        let rows = try db.scalar("""
            SELECT string_agg(status || coalesce('/' || phase, '') || coalesce('/' || lease_owner, ''), ' ' ORDER BY id)
            FROM campaign.campaign_jobs
            """)
        #expect(rows == "ACTIVE/DIALING/a SKIPPED ACTIVE/DIALING/b ACTIVE/DIALING/b QUEUED QUEUED", "\(rows ?? "?")")
        #expect(try db.scalar("SELECT sum(n) FROM campaign.dial_counts_quarter") == "3")
        #expect(try db.scalar("SELECT sum(n) FROM campaign.dial_counts_tick") == "3")
        // The report of a call leased this way lands like any other, with its call log.
        let job = answers[0].jobs[0]
        let now = Timestamp.string(Date())
        let out = try await store.apply(
            [JobRequest(
                jobId: job.jobId, leaseToken: job.leaseToken, kind: .complete(outcome: .answered),
                call: CallRecord(
                    provider: "t", providerCallId: nil, idempotencyKey: job.idempotencyKey!, startedAt: now, endedAt: now,
                    outcome: .answered, durationMs: 0, detail: nil),
                agent: "a")],
            retry: RetryPolicy(), rules: rules)
        guard case .report(let r) = out[0] else {
            Issue.record("expected a report: \(out)")
            return
        }
        #expect(r.status == .completed)
        #expect(try db.scalar("SELECT count(*) FROM campaign.call_logs WHERE job_id = \(job.jobId)") == "1")
    }

    @Test func providerLimitsSayWaitWithoutChangingTheJob() async throws {
        let (db, store) = try await TestDatabase.migrated("limits")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 6)
        let jobs = try await store.lease(owner: "a", max: 6, leaseSeconds: 30)
        var rules = DialRules.unrestricted
        rules.maxConcurrentCalls = 2
        let out = try await store.apply(
            jobs.map { JobRequest(jobId: $0.jobId, leaseToken: $0.leaseToken, kind: .dialing, agent: "a") },
            retry: RetryPolicy(), rules: rules)
        let allowed = out.filter { if case .dialing(let d) = $0 { return d.allowed } else { return false } }
        let waits = out.compactMap { o -> Int? in if case .dialing(let d) = o { return d.retryAfterMs } else { return nil } }
        #expect(allowed.count == 2 && waits.count == 4)
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE phase = 'CLAIMED'") == "4")
        // Calls per second: with 1 call/s and the concurrency freed, one more is let through, then "wait".
        rules.maxConcurrentCalls = 100
        rules.callsPerSecond = 1
        // The rate window counts the 100 ms counters: age them.
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.dial_counts_tick SET bucket = bucket - interval '5 seconds'")
        let rest = try await store.apply(
            jobs[2...].map { JobRequest(jobId: $0.jobId, leaseToken: $0.leaseToken, kind: .dialing, agent: "a") },
            retry: RetryPolicy(), rules: rules)
        let admitted = rest.filter { if case .dialing(let d) = $0 { return d.allowed } else { return false } }
        #expect(admitted.count == 1)
    }
}
