import CampaignCoordinator
import CampaignCore
import CampaignProtocol
import CampaignStore
import CampaignTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

/// Each maintenance duty on its own: one `runOnce` at a time, on instants the test picks, against
/// a real PostgreSQL for the duties that write.
@Suite("Maintenance duties")
struct MaintenanceDutyTests {
    static let logger = Logger(label: "maintenance-test")

    /// A query's first value, run off the cooperative pool.
    static func scalar(_ db: TestDatabase, _ sql: String) async throws -> String? {
        try await blocking { Result { try db.scalar(sql) } }.get()
    }

    @Test func theRenewerExtendsTheConnectedAgentsLeasesOnly() async throws {
        let (db, store) = try await TestDatabase.migrated("renew")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 3)
        let mine = try await store.lease(owner: "a@c#1", max: 2, leaseSeconds: 30)
        let theirs = try await store.lease(owner: "b@c#2", max: 1, leaseSeconds: 30)
        #expect(mine.count == 2 && theirs.count == 1)
        let owners = NIOLockedValueBox<[String]>([])
        let renewer = LeaseRenewer(store: store) { owners.withLockedValue { $0 } }
        #expect(try await renewer.runOnce(leaseSeconds: 600) == 0, "no agent connected: nothing renewed")
        owners.withLockedValue { $0 = ["a@c#1"] }
        #expect(try await renewer.runOnce(leaseSeconds: 600) == 2)
        let renewed = try await Self.scalar(db, """
            SELECT string_agg(lease_owner, ',' ORDER BY lease_owner) FROM campaign.campaign_jobs
            WHERE lease_expires_at > now() + interval '500 seconds'
            """)
        #expect(renewed == "a@c#1,a@c#1")
    }

    @Test func theExpirerRequeuesClaimedFailsDialingAndWakesOnlyWhenItChangedSomething() async throws {
        let (db, store) = try await TestDatabase.migrated("expirer")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 2, maxAttempts: 3)
        let jobs = try await store.lease(owner: "a", max: 2, leaseSeconds: 30)
        _ = try await store.apply(
            [JobRequest(jobId: jobs[1].jobId, leaseToken: jobs[1].leaseToken, kind: .dialing, agent: "a")],
            retry: RetryPolicy(baseMs: 1000, capMs: 10_000))
        let wakes = NIOLockedValueBox(0)
        let expirer = LeaseExpirer(store: store, logger: Self.logger) { wakes.withLockedValue { $0 += 1 } }
        #expect(try await expirer.runOnce().isEmpty, "no lease has lapsed yet")
        #expect(wakes.withLockedValue { $0 } == 0)
        _ = try await Self.scalar(db, "UPDATE campaign.campaign_jobs SET lease_expires_at = now() - interval '1 second' RETURNING 1")
        #expect(try await expirer.runOnce().sorted() == jobs.map(\.jobId).sorted())
        #expect(wakes.withLockedValue { $0 } == 1)
        let states = try await Self.scalar(db, """
            SELECT string_agg(status || coalesce(' ' || (result->>'reason'), ''), ',' ORDER BY id) FROM campaign.campaign_jobs
            """)
        #expect(states == "QUEUED,FAILED outcome_unknown")
        #expect(try await expirer.runOnce().isEmpty)
        #expect(wakes.withLockedValue { $0 } == 1)
    }

    @Test func theSchedulerRunsWhileEnabledOncePerIntervalAndAfterAFailureWaitsTheInterval() async {
        let runs = NIOLockedValueBox(0)
        let failNext = NIOLockedValueBox(false)
        let scheduler = AutomationScheduler(logger: Self.logger) { _ in
            let n = runs.withLockedValue { $0 += 1; return $0 }
            if failNext.withLockedValue({ $0 }) { throw RPCError(.databaseUnavailable, "database unavailable, retry later") }
            return RunAutomation.Result(
                considered: 10, enqueued: n, eligible: n, leftOut: [:], date: "2026-12-01", capRemaining: 0, dryRun: false)
        }
        var s = AutomationSettings.wideOpen
        s.autoRunIntervalSeconds = 60
        let t0 = ContinuousClock.now
        #expect(await scheduler.runOnce(settings: s, at: t0) == .disabled)
        #expect(runs.withLockedValue { $0 } == 0)
        s.enabled = true
        #expect(await scheduler.runOnce(settings: s, at: t0) == .ran(enqueued: 1), "the first round runs at once")
        #expect(await scheduler.runOnce(settings: s, at: t0 + .seconds(59)) == .notDue)
        #expect(await scheduler.runOnce(settings: s, at: t0 + .seconds(60)) == .ran(enqueued: 2))
        failNext.withLockedValue { $0 = true }
        let failed = await scheduler.runOnce(settings: s, at: t0 + .seconds(120))
        guard case .failed(let why) = failed else {
            Issue.record("expected a failed run, got \(failed)")
            return
        }
        #expect(why.contains("database unavailable, retry later"), "\(why)")
        failNext.withLockedValue { $0 = false }
        #expect(await scheduler.runOnce(settings: s, at: t0 + .seconds(150)) == .notDue, "a failed run counts as the interval's run")
        s.enabled = false
        #expect(await scheduler.runOnce(settings: s, at: t0 + .seconds(300)) == .disabled)
        s.enabled = true
        #expect(await scheduler.runOnce(settings: s, at: t0 + .seconds(300)) == .ran(enqueued: 4), "enabled again after an interval: at once")
        #expect(runs.withLockedValue { $0 } == 4)
    }

    @Test func thePrunerForgetsCountersOlderThanItsDaysOncePerInterval() async throws {
        let (db, store) = try await TestDatabase.migrated("pruner")
        defer { db.drop() }
        _ = try await Self.scalar(db, """
            INSERT INTO campaign.dial_counts_quarter (bucket, n)
            VALUES (to_timestamp(floor(extract(epoch FROM now() - interval '4 days') / 900) * 900), 7),
                   (to_timestamp(floor(extract(epoch FROM now() - interval '2 days') / 900) * 900), 5)
            RETURNING 1
            """)
        let pruner = DialCounterPruner(store: store, keepDays: 3, interval: .seconds(3600))
        let t0 = ContinuousClock.now
        #expect(try await pruner.runOnce(at: t0) == .pruned(1))
        #expect(try await Self.scalar(db, "SELECT string_agg(n::text, ',') FROM campaign.dial_counts_quarter") == "5")
        #expect(try await pruner.runOnce(at: t0 + .seconds(3599)) == .notDue)
        #expect(try await pruner.runOnce(at: t0 + .seconds(3600)) == .pruned(0))
    }

    @Test func theStatusLineSaysWhatAnOperatorChecksAndIsSentOnlyWhenItChanges() async {
        let sent = NIOLockedValueBox<[String]>([])
        let answer = NIOLockedValueBox<Health.Result?>(nil)
        let agents = NIOLockedValueBox(3)
        let reporter = StatusReporter(
            send: { line in sent.withLockedValue { $0.append(line) } }, health: { answer.withLockedValue { $0 } },
            agents: { agents.withLockedValue { $0 } })
        await reporter.refresh()
        #expect(sent.withLockedValue { $0 } == ["agents 3 · database UNREACHABLE"])
        await reporter.refresh()
        #expect(sent.withLockedValue { $0 }.count == 1, "the same line is not sent again")
        answer.withLockedValue {
            $0 = Health.Result(
                version: "t", uptimeSeconds: 1, database: "up", leader: true, agents: 3,
                queue: QueueCounts(QUEUED: 120, ACTIVE: 8), completedToday: 5012)
        }
        await reporter.refresh()
        #expect(sent.withLockedValue { $0.last } == "agents 3 · queued 120 · active 8 · done today 5012 · database up · leader")
        // An agent leaves: the last counts with the new number of agents, without asking `health`.
        answer.withLockedValue { $0 = nil }
        agents.withLockedValue { $0 = 2 }
        await reporter.refresh(recount: false)
        #expect(sent.withLockedValue { $0.last } == "agents 2 · queued 120 · active 8 · done today 5012 · database up · leader")
        #expect(reporter.line == sent.withLockedValue { $0.last })
        #expect(sent.withLockedValue { $0 }.count == 3)
    }

    @Test func databaseHealthReportsTheChangeOfStateOnce() {
        let health = DatabaseHealth(logger: Self.logger)
        #expect(health.isUp)
        health.succeeded()
        #expect(health.isUp)
        #expect(health.unreachable(StoreError(.connectionFailed, "connection refused"), during: "test"))
        #expect(!health.isUp)
        #expect(!health.unreachable(StoreError(.connectionFailed, "connection refused"), during: "test"), "already down: not a change")
        health.succeeded()
        #expect(health.isUp)
        #expect(health.unreachable(StoreError(.connectionFailed, "connection refused"), during: "test"), "down again after being up")
    }
}
