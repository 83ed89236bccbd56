import CampaignCore
import CampaignProtocol
@testable import CampaignStore
import CampaignTestSupport
import Foundation
import Logging
import Testing

/// The store against a real PostgreSQL (a fresh database per test).
@Suite("Store")
struct StoreTests {
    let retry = RetryPolicy(baseMs: 1000, factor: 2, capMs: 10_000)

    @Test func migrationsAreIdempotentAndRecorded() async throws {
        let (db, store) = try await TestDatabase.migrated("migr")
        defer { db.drop() }
        #expect(try await store.migrate() == [])
        #expect(try db.scalar("SELECT count(*) FROM campaign.schema_migrations") == String(Migration.all.count))
        // Exactly the five statuses of the contract.
        #expect(
            try db.scalar("SELECT string_agg(e::text, ',') FROM unnest(enum_range(NULL::campaign.campaign_job_status)) e")
                == "QUEUED,ACTIVE,COMPLETED,FAILED,SKIPPED")
    }

    @Test("PGArray literals reach PostgreSQL as the same strings: quotes, backslashes, braces, commas, NULL, UTF-8")
    func arrayLiteralsRoundTrip() async throws {
        let db = try await TestDatabase.create("pgarray")
        defer { db.drop() }
        let conn = try db.connect()
        let values: [String?] = [
            "plain", "", "a\"b", "back\\slash\\", "{braces}", "a,b", " spaced ", "NULL", nil, "ümlaut ☎ 😀",
            "\\\"", "line\nbreak\ttab",
        ]
        let rows = try conn.query(unsafeSQL: 
            "SELECT ord, v FROM unnest($1::text[]) WITH ORDINALITY AS t(v, ord) ORDER BY ord", [PGArray.encode(values)])
        #expect(rows.count == values.count)
        for i in 0..<rows.count { #expect(rows[i, 1] == values[i], "element \(i)") }
        let ints = try conn.query(unsafeSQL: "SELECT array_to_string($1::bigint[], ',', '-')", [PGArray.encode([1, -2, nil, Int64.max])])
        #expect(ints[0, 0] == "1,-2,-,\(Int64.max)")
        #expect(try conn.query(unsafeSQL: "SELECT cardinality($1::text[])", [PGArray.encode([String?]())])[0, 0] == "0")
    }

    @Test("integers are read from the result's text in place, exactly as Int64(String) reads them")
    func integersReadInPlace() async throws {
        let db = try await TestDatabase.create("pgint")
        defer { db.drop() }
        let conn = try db.connect()
        let texts: [String?] = [
            "0", "-1", "+5", "42", "9223372036854775807", "-9223372036854775808", "9223372036854775808",
            "-9223372036854775809", "", "-", "+", "12a", " 1", "1.0", "007", nil,
        ]
        let rows = try conn.query(unsafeSQL: "SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS t(v, ord) ORDER BY ord", [PGArray.encode(texts)])
        #expect(rows.count == texts.count)
        for i in 0..<rows.count {
            #expect(rows.int64(row: i, column: 0) == texts[i].flatMap { Int64($0) }, "\(texts[i] ?? "NULL")")
            #expect(rows.row(i).optionalInt("v") == texts[i].flatMap { Int($0) }, "\(texts[i] ?? "NULL")")
        }
        #expect(rows.column(named: "v") == 0 && rows.column(named: "V") == nil && rows.column(named: "w") == nil)
    }

    @Test("a pipeline runs its statements in order in one round trip; the first error stops the rest and rolls back")
    func pipelineOrderErrorsAndCommit() async throws {
        let db = try await TestDatabase.create("pipeline")
        defer { db.drop() }
        let conn = try db.connect()
        try conn.exec(unsafeSQL: "CREATE TABLE t (v int PRIMARY KEY)")
        // In order, each statement seeing the ones before it; the BEGIN went with them.
        let rows = try conn.transaction {
            var p = Pipeline()
            let first = try p.add(TInsert(v: 1))
            try p.add(TInsert(v: 2))
            let counted = try p.add(TCount())
            let results = try conn.pipeline(p)
            return (results.all.count, try results.rows(first), try results.row(counted))
        }
        #expect(rows.0 == 3 && rows.1 == [1] && rows.2 == 2)
        #expect(try db.scalar("SELECT count(*) FROM t") == "2")

        // A failing statement: its error is thrown, the later one does not run, the earlier is rolled back.
        #expect {
            try conn.transaction {
                var p = Pipeline()
                try p.add(TInsert(v: 3))
                try p.add(TDivide(by: 0))
                try p.add(TInsert(v: 4))
                _ = try conn.pipeline(p, commit: true)
            }
        } throws: { ($0 as? StoreError)?.sqlState == "22012" }
        #expect(try db.scalar("SELECT string_agg(v::text, ',' ORDER BY v) FROM t") == "1,2")
        // The connection is usable at once, in and out of transactions.
        #expect(try conn.row(TCount()) == 2)

        // With its COMMIT: committed, and nothing more may run in that transaction.
        #expect {
            try conn.transaction {
                var p = Pipeline()
                try p.add(TInsert(v: 5))
                _ = try conn.pipeline(p, commit: true)
                _ = try conn.run(TInsert(v: 6))
            }
        } throws: { ($0 as? StoreError)?.code == .unexpectedResult }
        #expect(try db.scalar("SELECT string_agg(v::text, ',' ORDER BY v) FROM t") == "1,2,5")

        // A statement that cannot be prepared fails the same way every time (it is not taken as prepared).
        for _ in 0..<2 {
            var p = Pipeline()
            try p.add(TCount())
            try p.add(TBroken())
            #expect { _ = try conn.pipeline(p) } throws: { ($0 as? StoreError)?.sqlState == "42601" }
        }
        var p = Pipeline()
        let counted = try p.add(TCount())
        #expect(try conn.pipeline(p).row(counted) == 3)
        // A transaction that runs nothing sends nothing and leaves the connection idle.
        try conn.transaction {}
        #expect(conn.isHealthy)
    }

    struct TInsert: Statement {
        static let sql = StatementSQL("t_insert", "INSERT INTO t (v) VALUES ($v::int) RETURNING v")
        var v: Int
        func bind(_ b: inout Bindings) { b.bind("v", self.v) }
        static func decode(_ row: PQRow) throws -> Int { try row.int("v") }
    }

    struct TDivide: Statement {
        static let sql = StatementSQL("t_divide", "SELECT 1 / $by::int AS q")
        var by: Int
        func bind(_ b: inout Bindings) { b.bind("by", self.by) }
    }

    struct TCount: Statement {
        static let sql = StatementSQL("t_count", "SELECT count(*) AS n FROM t")
        static func decode(_ row: PQRow) throws -> Int { try row.int("n") }
    }

    struct TBroken: Statement {
        static let sql = StatementSQL("t_broken", "SELEC 1")
    }

    @Test("campaign.ts formats RFC 3339 UTC with milliseconds and is inlined, not run as a SQL function per row")
    func timestampFunctionIsInlined() async throws {
        let (db, _) = try await TestDatabase.migrated("tsinline")
        defer { db.drop() }
        #expect(try db.scalar("SELECT campaign.ts('2026-01-02 03:04:05.678+01')") == "2026-01-02T02:04:05.678Z")
        let conn = try db.connect()
        let plan = try conn.query(unsafeSQL: "EXPLAIN (VERBOSE) SELECT campaign.ts(t) FROM generate_series(now(), now(), '1 s') t")
        let text = (0..<plan.count).compactMap { plan[$0, 0] }.joined(separator: "\n")
        #expect(text.contains("to_char") && !text.contains("campaign.ts"), "\(text)")
    }

    @Test func concurrentMigratorsApplyOnce() async throws {
        let db = try await TestDatabase.create("migrrace")
        defer { db.drop() }
        let a = db.makeStore()
        let b = db.makeStore()
        async let ra = a.migrate()
        async let rb = b.migrate()
        let (x, y) = try await (ra, rb)
        #expect((x + y).sorted() == Migration.all.map(\.version))
    }

    @Test func upsertCustomersInsertsThenUpdates() async throws {
        let (db, store) = try await TestDatabase.migrated("cust")
        defer { db.drop() }
        let first = try await store.upsertCustomers(TestFactory.customers(10))
        #expect(first.inserted == 10 && first.updated == 0)
        var changed = TestFactory.customers(12)
        changed[0].name = "Renamed"
        let second = try await store.upsertCustomers(changed)
        #expect(second.inserted == 2 && second.updated == 10)
        #expect(try db.scalar("SELECT name FROM campaign.customers WHERE external_ref = 'cust-0000'") == "Renamed")
    }

    @Test func upsertWithoutStatusKeepsAnOptOut() async throws {
        let (db, store) = try await TestDatabase.migrated("optout")
        defer { db.drop() }
        var c = TestFactory.customers(1)
        c[0].status = .optedOut
        _ = try await store.upsertCustomers(c)
        c[0].status = nil
        _ = try await store.upsertCustomers(c)
        #expect(try db.scalar("SELECT status FROM campaign.customers") == "OPTED_OUT")
    }

    @Test func enqueueIsIdempotentAndReportsUnknownCustomers() async throws {
        let (db, store) = try await TestDatabase.migrated("enq")
        defer { db.drop() }
        _ = try await store.upsertCustomers(TestFactory.customers(2))
        let items = [
            EnqueueItem(customerRef: "cust-0000", queueJobId: "k1"),
            EnqueueItem(customerRef: "nobody", queueJobId: "k2"),
            EnqueueItem(customerRef: "cust-0001", queueJobId: "k1"),  // same key: no second job
        ]
        let rows = try await store.enqueue(items, defaultMaxAttempts: 3)
        #expect(rows.map(\.customerFound) == [true, false, true])
        #expect(rows[0].created && !rows[2].created)
        #expect(rows[0].jobId == rows[2].jobId)
        let again = try await store.enqueue([items[0]], defaultMaxAttempts: 3)
        #expect(!again[0].created && again[0].jobId == rows[0].jobId)
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs") == "1")
    }

    @Test func leaseCountsTheAttemptAndIssuesAFreshToken() async throws {
        let (db, store) = try await TestDatabase.migrated("lease")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 3)
        let leased = try await store.lease(owner: "a@c#1", max: 2, leaseSeconds: 30)
        #expect(leased.count == 2)
        #expect(leased.allSatisfy { $0.attempt == 1 })
        #expect(Set(leased.map(\.leaseToken)).count == 2)
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'ACTIVE' AND phase = 'CLAIMED'") == "2")
        let rest = try await store.lease(owner: "b@c#2", max: 10, leaseSeconds: 30)
        #expect(rest.count == 1)
        #expect(try await store.lease(owner: "b@c#2", max: 10, leaseSeconds: 30).isEmpty)
    }

    @Test func racingLeasersNeverShareAJob() async throws {
        let (db, store) = try await TestDatabase.migrated("race", poolSize: 8)
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 200)
        let leased = try await withThrowingTaskGroup(of: [LeasedJob].self) { group in
            for i in 0..<8 {
                group.addTask {
                    var mine: [LeasedJob] = []
                    while true {
                        let got = try await store.lease(owner: "agent\(i)", max: 7, leaseSeconds: 30)
                        if got.isEmpty { return mine }
                        mine += got
                    }
                }
            }
            var all: [LeasedJob] = []
            for try await part in group { all += part }
            return all
        }
        #expect(leased.count == 200)
        #expect(Set(leased.map(\.jobId)).count == 200)
    }

    @Test func dialingThenCompleteWritesTheCallLogOnce() async throws {
        let (db, store) = try await TestDatabase.migrated("complete")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 1)
        let job = try #require(try await store.lease(owner: "a", max: 1, leaseSeconds: 30).first)
        let dial = try await store.apply([JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .dialing, agent: "a")], retry: self.retry)
        guard case .dialing(let d) = dial[0] else { Issue.record("expected a dialing answer, got \(dial)"); return }
        #expect(d.allowed && d.idempotencyKey == "\(job.queueJobId)#1" && d.status == .active)
        #expect(try db.scalar("SELECT phase FROM campaign.campaign_jobs") == "DIALING")
        #expect(try db.scalar("SELECT last_called_at IS NOT NULL FROM campaign.customers") == "t")

        let call = CallRecord(
            provider: "simulate", providerCallId: "p1", idempotencyKey: d.idempotencyKey!, startedAt: nil, endedAt: nil,
            outcome: .answered, durationMs: 1234, detail: ["x": 1])
        let complete = JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .complete(outcome: .answered), call: call, agent: "a")
        let first = try await store.apply([complete], retry: self.retry)
        guard case .report(let r1) = first[0] else { Issue.record("expected a report, got \(first)"); return }
        #expect(r1.status == .completed && !r1.replayed && r1.attemptsMade == 1)
        // The same report again: same answer, marked as a replay, nothing more written.
        let second = try await store.apply([complete], retry: self.retry)
        guard case .report(let r2) = second[0] else { Issue.record("expected a report, got \(second)"); return }
        #expect(r2.status == .completed && r2.replayed)
        #expect(try db.scalar("SELECT count(*) FROM campaign.call_logs") == "1")
        #expect(try db.scalar("SELECT (extract(epoch FROM duration) * 1000)::int FROM campaign.call_logs") == "1234")
        #expect(try db.scalar("SELECT result->>'outcome' FROM campaign.campaign_jobs") == "ANSWERED")
        #expect(try db.scalar("SELECT completed_at IS NOT NULL AND lease_owner IS NULL FROM campaign.campaign_jobs") == "t")
    }

    @Test func staleTokenIsLeaseLostAndChangesNothing() async throws {
        let (db, store) = try await TestDatabase.migrated("stale")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 1)
        let job = try #require(try await store.lease(owner: "a", max: 1, leaseSeconds: 30).first)
        let stale = UUID().uuidString.lowercased()
        for kind: JobRequest.Kind in [.dialing, .complete(outcome: .answered), .fail(retryable: true, error: "x", outcome: nil), .skip(reason: "r")] {
            let out = try await store.apply([JobRequest(jobId: job.jobId, leaseToken: stale, kind: kind, agent: "a")], retry: self.retry)
            #expect(out[0] == .rejected(.leaseLost, status: .active))
        }
        #expect(try db.scalar("SELECT status || '/' || phase FROM campaign.campaign_jobs") == "ACTIVE/CLAIMED")
        let missing = try await store.apply([JobRequest(jobId: 999_999, leaseToken: stale, kind: .dialing, agent: "a")], retry: self.retry)
        #expect(missing[0] == .notFound)
    }

    @Test func completeBeforeDialingIsInvalidState() async throws {
        let (db, store) = try await TestDatabase.migrated("early")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 1)
        let job = try #require(try await store.lease(owner: "a", max: 1, leaseSeconds: 30).first)
        let out = try await store.apply(
            [JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .complete(outcome: .answered), agent: "a")], retry: self.retry)
        #expect(out[0] == .rejected(.invalidState, status: .active))
    }

    @Test func retryableFailureRequeuesWithBackoffUntilAttemptsAreUsed() async throws {
        let (db, store) = try await TestDatabase.migrated("retry")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 1, maxAttempts: 2)
        for attempt in 1...2 {
            // Make the job due now whatever its backoff was.
            _ = try db.connect().query(unsafeSQL: "UPDATE campaign.campaign_jobs SET run_at = now() WHERE status = 'QUEUED'")
            let job = try #require(try await store.lease(owner: "a", max: 1, leaseSeconds: 30).first)
            #expect(job.attempt == attempt)
            _ = try await store.apply([JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .dialing, agent: "a")], retry: self.retry)
            let out = try await store.apply(
                [JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .fail(retryable: true, error: "no answer", outcome: .noAnswer), agent: "a")],
                retry: self.retry)
            guard case .report(let r) = out[0] else { Issue.record("expected a report"); return }
            if attempt == 1 {
                #expect(r.status == .queued && r.runAt != nil)
                // Full jitter within the first ceiling (base 1 s).
                let delay = try #require(Double(try db.scalar("SELECT extract(epoch FROM run_at - updated_at) FROM campaign.campaign_jobs") ?? ""))
                #expect(delay >= 0 && delay <= 1.0)
            } else {
                #expect(r.status == .failed)
                #expect(r.result?["error"] == "no answer" && r.result?["outcome"] == "NO_ANSWER")
            }
        }
        #expect(try db.scalar("SELECT attempts_made FROM campaign.campaign_jobs") == "2")
    }

    @Test func refusedDialingSkipsWithTheRuleName() async throws {
        let (db, store) = try await TestDatabase.migrated("refuse")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 1)
        let job = try #require(try await store.lease(owner: "a", max: 1, leaseSeconds: 30).first)
        // The customer opts out between lease and dial.
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.customers SET status = 'OPTED_OUT'")
        let out = try await store.apply([JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .dialing, agent: "a")], retry: self.retry)
        guard case .dialing(let d) = out[0] else { Issue.record("expected dialing"); return }
        #expect(!d.allowed && d.rule == "not_active" && d.status == .skipped)
        #expect(try db.scalar("SELECT status || ' ' || (result->>'reason') FROM campaign.campaign_jobs") == "SKIPPED not_active")
    }

    @Test func connectionLossRequeuesClaimedButKeepsDialing() async throws {
        let (db, store) = try await TestDatabase.migrated("connlost")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 2)
        let jobs = try await store.lease(owner: "a#1", max: 2, leaseSeconds: 30)
        _ = try await store.apply([JobRequest(jobId: jobs[1].jobId, leaseToken: jobs[1].leaseToken, kind: .dialing, agent: "a")], retry: self.retry)
        let released = try await store.releaseClaimed(owner: "a#1")
        #expect(released == [jobs[0].jobId])
        #expect(try db.scalar("SELECT status || '/' || attempts_made FROM campaign.campaign_jobs WHERE id = $1", [String(jobs[0].jobId)]) == "QUEUED/1")
        #expect(try db.scalar("SELECT status || '/' || phase FROM campaign.campaign_jobs WHERE id = $1", [String(jobs[1].jobId)]) == "ACTIVE/DIALING")
        // The lost lease's token no longer works, neither before nor after the job is leased again.
        let resent = try await store.apply(
            [JobRequest(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, kind: .fail(retryable: false, error: "x", outcome: nil), agent: "a")],
            retry: self.retry)
        #expect(resent[0] == .rejected(.leaseLost, status: .queued))
        let again = try #require(try await store.lease(owner: "b#2", max: 1, leaseSeconds: 30).first)
        #expect(again.jobId == jobs[0].jobId && again.attempt == 2)
        let late = try await store.apply([JobRequest(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, kind: .dialing, agent: "a")], retry: self.retry)
        #expect(late[0] == .rejected(.leaseLost, status: .active))
    }

    @Test func expiredDialingBecomesOutcomeUnknownAndALateReportStillLands() async throws {
        let (db, store) = try await TestDatabase.migrated("expire")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 2, maxAttempts: 1)
        let jobs = try await store.lease(owner: "a", max: 2, leaseSeconds: 30)
        let dial = try await store.apply([JobRequest(jobId: jobs[1].jobId, leaseToken: jobs[1].leaseToken, kind: .dialing, agent: "a")], retry: self.retry)
        guard case .dialing(let d) = dial[0], let key = d.idempotencyKey else { Issue.record("expected dialing"); return }
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.campaign_jobs SET lease_expires_at = now() - interval '1 second'")
        let expired = try await store.expireLeases()
        #expect(expired.sorted() == jobs.map(\.jobId).sorted())
        // CLAIMED with no attempts left → FAILED lease_expired; DIALING → FAILED outcome_unknown.
        #expect(try db.scalar("SELECT status || ' ' || (result->>'reason') FROM campaign.campaign_jobs WHERE id = $1", [String(jobs[0].jobId)]) == "FAILED lease_expired")
        #expect(try db.scalar("SELECT status || ' ' || (result->>'reason') FROM campaign.campaign_jobs WHERE id = $1", [String(jobs[1].jobId)]) == "FAILED outcome_unknown")
        // The column says it too (and only for that job).
        #expect(try db.scalar("SELECT string_agg(id::text, ',') FROM campaign.campaign_jobs WHERE outcome_unknown") == String(jobs[1].jobId))
        #expect(try await store.lease(owner: "b", max: 5, leaseSeconds: 30).isEmpty)  // never redialed by itself

        let call = CallRecord(provider: "simulate", providerCallId: nil, idempotencyKey: key, startedAt: nil, endedAt: nil, outcome: .voicemail, durationMs: 10, detail: nil)
        let late = try await store.apply(
            [JobRequest(jobId: jobs[1].jobId, leaseToken: jobs[1].leaseToken, kind: .complete(outcome: .voicemail), call: call, agent: "a")], retry: self.retry)
        guard case .report(let r) = late[0] else { Issue.record("expected a report, got \(late)"); return }
        #expect(r.status == .completed && r.result?["outcome"] == "VOICEMAIL")
        #expect(try db.scalar("SELECT count(*) FROM campaign.call_logs") == "1")
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE outcome_unknown") == "0", "the late report settled it")
    }

    @Test func renewExtendsOnlyTheNamedOwners() async throws {
        let (db, store) = try await TestDatabase.migrated("renew")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 2)
        _ = try await store.lease(owner: "a", max: 1, leaseSeconds: 5)
        _ = try await store.lease(owner: "b", max: 1, leaseSeconds: 5)
        #expect(try await store.renewLeases(owners: ["a"], leaseSeconds: 600) == 1)
        #expect(try db.scalar("SELECT lease_expires_at > now() + interval '500 seconds' FROM campaign.campaign_jobs WHERE lease_owner = 'a'") == "t")
        #expect(try db.scalar("SELECT lease_expires_at < now() + interval '10 seconds' FROM campaign.campaign_jobs WHERE lease_owner = 'b'") == "t")
    }

    @Test func batchOfReportsForManyJobsIsOneTransaction() async throws {
        let (db, store) = try await TestDatabase.migrated("batch")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 50)
        let jobs = try await store.lease(owner: "a", max: 50, leaseSeconds: 30)
        let dials = try await store.apply(jobs.map { JobRequest(jobId: $0.jobId, leaseToken: $0.leaseToken, kind: .dialing, agent: "a") }, retry: self.retry)
        #expect(dials.allSatisfy { if case .dialing(let d) = $0 { return d.allowed } else { return false } })
        let reports = try await store.apply(
            jobs.map { JobRequest(jobId: $0.jobId, leaseToken: $0.leaseToken, kind: .complete(outcome: .answered), agent: "a") }, retry: self.retry)
        #expect(reports.count == 50)
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'COMPLETED'") == "50")
    }

    @Test("a batch holding a pre-dial check reads the customers; one of reports only does not need them")
    func dialingInAReportBatchSeesTheCustomer() async throws {
        let (db, store) = try await TestDatabase.migrated("mixed")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 3)
        let jobs = try await store.lease(owner: "a", max: 3, leaseSeconds: 30)
        #expect(jobs.count == 3)
        _ = try await store.apply([JobRequest(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, kind: .dialing, agent: "a")], retry: self.retry)
        // One batch: a report of the dialed job and the pre-dial check of another.
        let mixed = try await store.apply(
            [
                JobRequest(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, kind: .complete(outcome: .answered), agent: "a"),
                JobRequest(jobId: jobs[1].jobId, leaseToken: jobs[1].leaseToken, kind: .dialing, agent: "a"),
            ], retry: self.retry)
        guard case .report(let r) = mixed[0], case .dialing(let d) = mixed[1] else { Issue.record("\(mixed)"); return }
        #expect(r.status == .completed)
        #expect(d.allowed && d.idempotencyKey == "\(jobs[1].queueJobId)#1", "the check saw the customer: \(d)")
        // Reports only (the slim lock): answered as before.
        let only = try await store.apply(
            [JobRequest(jobId: jobs[1].jobId, leaseToken: jobs[1].leaseToken, kind: .complete(outcome: .answered), agent: "a")],
            retry: self.retry)
        guard case .report(let r2) = only[0] else { Issue.record("\(only)"); return }
        #expect(r2.status == .completed && r2.attemptsMade == 1 && !r2.replayed)
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'COMPLETED'") == "2")
    }

    @Test func settingsRoundTripAndEveryChangeIsLogged() async throws {
        let (db, store) = try await TestDatabase.migrated("settings")
        defer { db.drop() }
        #expect(try await store.settings() == AutomationSettings())
        var s = AutomationSettings()
        s.retryBaseMs = 500
        s.retryFactor = 1.5
        try await store.writeSettings(s, by: "uid:1000")
        #expect(try await store.settings() == s)
        try await store.writeSettings(s, by: "uid:1000")  // no change, nothing logged
        // Every key written the first time (all new), none the second time.
        #expect(try db.scalar("SELECT count(*) FROM campaign.automation_settings_log") == String(AutomationSettings.keys.count))
        #expect(try db.scalar("SELECT updated_by FROM campaign.automation_settings WHERE key = 'retryBaseMs'") == "uid:1000")
    }

    @Test func adminCancelReachesTheAgentAtItsNextReportAndKeepsTheCallLog() async throws {
        let (db, store) = try await TestDatabase.migrated("cancel")
        defer { db.drop() }
        let ids = try await TestFactory.jobs(store, count: 3)
        let job = try #require(try await store.lease(owner: "a", max: 1, leaseSeconds: 30).first)
        _ = try await store.apply([JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .dialing, agent: "a")], retry: self.retry)
        // Cancel the dialing one, a queued one, and (refused) one that does not exist.
        let out = try await store.admin(.cancelRequested, ids: [job.jobId, ids[1], 424_242])
        #expect(out[job.jobId] == .changed && out[ids[1]] == .changed && out[424_242] == .notFound)
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'SKIPPED' AND result ->> 'reason' = 'cancelled' AND lease_owner IS NULL") == "2")
        // The call was under way: the agent's report is refused as INVALID_STATE (status SKIPPED), its call log kept.
        let call = CallRecord(provider: "t", providerCallId: nil, idempotencyKey: "\(job.queueJobId)#1", startedAt: nil, endedAt: nil, outcome: .answered, durationMs: 1, detail: nil)
        let report = try await store.apply(
            [JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .complete(outcome: .answered), call: call, agent: "a")], retry: self.retry)
        #expect(report[0] == .rejected(.invalidState, status: .skipped))
        #expect(try db.scalar("SELECT count(*) FROM campaign.call_logs") == "1")
        // A finished job cannot be cancelled.
        #expect(try await store.admin(.cancelRequested, ids: [job.jobId])[job.jobId] == .rejected(.skipped))
    }

    @Test func adminRetryExtendsTheBudgetAndFencesTheOldLease() async throws {
        let (db, store) = try await TestDatabase.migrated("adminretry")
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 1, maxAttempts: 1)
        let job = try #require(try await store.lease(owner: "a", max: 1, leaseSeconds: 30).first)
        _ = try await store.apply([JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .dialing, agent: "a")], retry: self.retry)
        _ = try await store.apply(
            [JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .fail(retryable: true, error: "busy", outcome: .busy), agent: "a")],
            retry: self.retry)
        #expect(try db.scalar("SELECT status FROM campaign.campaign_jobs") == "FAILED")  // no attempts left
        #expect(try await store.admin(.retryRequested, ids: [job.jobId], retryBudget: 2)[job.jobId] == .changed)
        #expect(try db.scalar("SELECT status || ' ' || attempts_made || '/' || max_attempts || ' ' || (run_at <= now()) FROM campaign.campaign_jobs") == "QUEUED 1/3 true")
        // The old lease's late report is fenced off.
        let late = try await store.apply(
            [JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .complete(outcome: .answered), agent: "a")], retry: self.retry)
        #expect(late[0] == .rejected(.leaseLost, status: .queued))
        let again = try #require(try await store.lease(owner: "b", max: 1, leaseSeconds: 30).first)
        #expect(again.attempt == 2 && again.leaseToken != job.leaseToken)
        // Only FAILED and SKIPPED jobs can be retried.
        #expect(try await store.admin(.retryRequested, ids: [job.jobId])[job.jobId] == .rejected(.active))
    }

    @Test func poolReconnectsAfterTheServerDroppedItsConnections() async throws {
        let (db, store) = try await TestDatabase.migrated("reconnect", poolSize: 2)
        defer { db.drop() }
        try await TestFactory.jobs(store, count: 1)
        #expect(try await store.counts().queue.QUEUED == 1)
        // The server goes away for this database's sessions (as on a restart or failover).
        _ = try db.connect().query(unsafeSQL: 
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [db.name])
        // The first use of a dropped connection may fail, as unavailable (retryable), never as a bug…
        var failures = 0
        for _ in 0..<4 {
            do {
                #expect(try await store.counts().queue.QUEUED == 1)
            } catch let e as StoreError {
                #expect(e.isUnavailable, "\(e.debugDescription)")
                failures += 1
            }
        }
        // …and at most once per pooled connection; then it works again.
        #expect((1...2).contains(failures), "the dropped connection was never noticed: \(failures)")
        #expect(try await store.counts().queue.QUEUED == 1)
    }

    @Test func unreachableDatabaseIsAClearRetryableError() async throws {
        let logger = Logger(label: "test")
        let pool = DatabasePool(configuration: .init(url: "postgresql://nobody@/nowhere?host=/nonexistent&connect_timeout=1", size: 1), logger: logger)
        let store = PostgresJobStore(pool: pool, logger: logger)
        await #expect(throws: StoreError.self) { try await store.counts() }
        do {
            _ = try await store.counts()
        } catch let e as StoreError {
            #expect(e.isUnavailable)
            #expect(!e.description.contains("nonexistent"))  // no connection details in the plain description
        }
        await pool.shutdown()
    }
}
