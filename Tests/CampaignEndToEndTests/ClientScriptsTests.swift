import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The shell and Node clients (`scripts/campaign-rpc`, `scripts/campaign-daily-report`,
/// `scripts/campaign-retry-failed`, `protocol/node/`) run as processes against a real
/// coordinator, with their effects checked in PostgreSQL. python3 and node must be installed
/// (scripts/test installs them through ensure_packages); when missing, the tests fail.
@Suite("Client scripts", .serialized)
struct ClientScriptsTests {
    /// The repository's root, from this file's path (Tests/CampaignEndToEndTests/…).
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func script(_ relative: String) -> String { Self.root.appendingPathComponent(relative).path }

    // MARK: campaign-rpc

    @Test func campaignRpcPrintsResultsAndSaysWhatWentWrongWithDistinctExitCodes() async throws {
        let python = try Self.tool("python3")
        try await Self.withScene("clirpc") { scene in
            let rpc = Self.script("scripts/campaign-rpc")

            // health: exit 0, pretty JSON with the documented fields.
            let health = try await Self.run(python, [rpc, "health"], env: scene.env)
            #expect(health.status == 0, "\(health.stderr)")
            let h = try Self.object(health.stdout)
            #expect(h["version"] as? String == CampaignVersion.current)
            #expect(h["database"] as? String == "up")
            #expect(h["leader"] as? Bool == true)
            #expect(h["agents"] as? Int == 0)
            #expect(h["uptimeSeconds"] is Int && h["completedToday"] is Int)
            let queue = h["queue"] as? [String: Any] ?? [:]
            #expect(Set(queue.keys) == ["QUEUED", "ACTIVE", "COMPLETED", "FAILED", "SKIPPED"], "\(queue)")
            #expect(health.stdout.split(separator: "\n").count > 5, "pretty-printed by default")
            let compact = try await Self.run(python, [rpc, "--compact", "health"], env: scene.env)
            #expect(compact.status == 0 && compact.stdout.split(separator: "\n").count == 1, "\(compact)")

            // Params: a JSON argument, stdin, and -p pairs give the same call.
            try await Self.seedCustomers(scene, refs: (0..<5).map { "rpc-\($0)" })
            let enqueue = try await Self.run(
                python, [rpc, "jobs.enqueue", "-"], env: scene.env,
                stdin: #"{"jobs":[{"customerRef":"rpc-0"},{"customerRef":"rpc-1"},{"customerRef":"rpc-2"},{"customerRef":"nobody"}]}"#)
            #expect(enqueue.status == 0, "\(enqueue.stderr)")
            let e = try Self.object(enqueue.stdout)
            #expect(e["enqueued"] as? Int == 3)
            #expect((e["rejected"] as? [[String: Any]])?.first?["reason"] as? String == "unknown customer")
            let listed = try await Self.run(python, [rpc, "jobs.list", #"{"status":"QUEUED"}"#, "-p", "limit:=2"], env: scene.env)
            #expect(listed.status == 0, "\(listed.stderr)")
            let page = try Self.object(listed.stdout)
            #expect((page["jobs"] as? [Any])?.count == 2 && page["nextCursor"] is String, "\(page)")
            let everything = try await Self.run(python, [rpc, "--all", "jobs.list", "-p", "limit:=2", "-p", "status=QUEUED"], env: scene.env)
            let all = try Self.object(everything.stdout)
            #expect((all["jobs"] as? [[String: Any]])?.compactMap { $0["customerRef"] as? String }.sorted() == ["rpc-0", "rpc-1", "rpc-2"])
            #expect(all["nextCursor"] is NSNull)

            // A JSON-RPC error: exit 1, `error CODE SYMBOL: message` and the data on stderr, nothing on stdout.
            let missing = try await Self.run(python, [rpc, "jobs.get", "-p", "id:=99999999"], env: scene.env)
            #expect(missing.status == 1)
            #expect(missing.stdout.isEmpty)
            #expect(missing.stderr.hasPrefix("error 1002 NOT_FOUND: "), "\(missing.stderr)")
            #expect(missing.stderr.contains(#""retryable": false"#), "\(missing.stderr)")
            let unknown = try await Self.run(python, [rpc, "no.such.method"], env: scene.env)
            #expect(unknown.status == 1 && unknown.stderr.hasPrefix("error -32601 METHOD_NOT_FOUND: "), "\(unknown)")
            let invalid = try await Self.run(python, [rpc, "jobs.list", #"{"status":"NOPE"}"#], env: scene.env)
            #expect(invalid.status == 1 && invalid.stderr.hasPrefix("error -32602 INVALID_PARAMS: "), "\(invalid)")

            // Usage: exit 2. Connection: exit 3.
            let badJSON = try await Self.run(python, [rpc, "jobs.list", "{nope"], env: scene.env)
            #expect(badJSON.status == 2 && badJSON.stderr.contains("not valid JSON"), "\(badJSON)")
            let noSocket = try await Self.run(python, [rpc, "--socket", scene.dir.appendingPathComponent("none.sock").path, "health"])
            #expect(noSocket.status == 3 && noSocket.stderr.contains("cannot connect"), "\(noSocket)")

            // The coordinator going away in the middle of a call: exit 3, said so.
            let coordinator = try #require(scene.processes.first)
            coordinator.signal(SIGSTOP)
            let stuck = try await Self.run(python, [rpc, "--timeout", "1", "health"], env: scene.env)
            coordinator.signal(SIGCONT)
            #expect(stuck.status == 3 && stuck.stderr.contains("no answer to health"), "\(stuck)")
        }
    }

    /// The python module's own tests: a scripted fake server (answers out of order, without id,
    /// a closed connection, a timeout, a garbled line, paging).
    @Test func pythonClientModuleUnitTests() async throws {
        let python = try Self.tool("python3")
        let r = try await Self.run(python, ["-m", "unittest", "discover", "-s", Self.script("scripts/lib"), "-p", "test_*.py", "-v"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr)")
        #expect(r.stderr.contains("Ran 9 tests") && r.stderr.hasSuffix("OK\n"), "\(r.stderr)")
    }

    /// `Client.events()` against the real coordinator: every event in order, across a restart of
    /// the coordinator (the generator reconnects and resumes after the last event it yielded).
    @Test func pythonClientFollowsEventsAcrossACoordinatorRestart() async throws {
        let python = try Self.tool("python3")
        let scene = try await Scene("clievents")
        var coordinator = try scene.coordinator()
        try await scene.waitForSocket()
        try await Self.seedCustomers(scene, refs: ["py-1", "py-2"])
        let follow = #"""
            import json, sys
            sys.path.insert(0, sys.argv[1])
            import campaign_rpc
            with campaign_rpc.Client() as rpc:
                for event in rpc.events(after=0):
                    print(json.dumps(event), flush=True)
                    if event["queueJobId"] == "py-events-2":
                        break
            """#
        let follower = try ManagedProcess(
            python, ["-c", follow, Self.script("scripts/lib")], environment: scene.env, logDir: scene.dir, name: "py-follow")
        scene.processes.append(follower)
        @Sendable func enqueue(_ ref: String, _ id: String) async throws {
            try await RPCClient.withConnection(socketPath: scene.socket) { c in
                let r = try await c.call(EnqueueJobs.self, .init(jobs: [EnqueueItem(customerRef: ref, queueJobId: id, reason: "events")]))
                #expect(r.enqueued == 1)
            }
        }
        try await enqueue("py-1", "py-events-1")
        var seen = false
        for _ in 0..<100 where !seen {
            try await Task.sleep(for: .milliseconds(100))
            seen = follower.log().contains("py-events-1")
        }
        #expect(seen, "\(follower.log())")
        #expect(await coordinator.stop() == 0)
        coordinator = try scene.coordinator()
        try await scene.waitForSocket()
        try await enqueue("py-2", "py-events-2")
        #expect(await follower.waitExit(timeout: .seconds(30)) == 0, "\(follower.log())")
        let printed = try follower.log().split(separator: "\n").filter { $0.hasPrefix("{") }.map {
            try JobEvent(json: try JSONValue(jsonUTF8: Array($0.utf8)))
        }
        let table = try scene.db.connect().query(unsafeSQL: "SELECT seq, queue_job_id FROM campaign.job_events ORDER BY seq").all.map {
            "\(try $0.int64("seq")) \(try $0.string("queue_job_id"))"
        }
        #expect(printed.map { "\($0.eventId) \($0.queueJobId)" } == table)
        #expect(printed.allSatisfy { $0.subscription == nil && $0.status == .queued })
        _ = await scene.tearDown()
    }

    // MARK: campaign-retry-failed

    @Test func retryScriptRetriesExactlyTheRetryableFailuresOfYesterday() async throws {
        let python = try Self.tool("python3")
        try await Self.withScene("cliretry") { scene in
            let plan = try await Self.prepareFailures(scene)
            let retry = Self.script("scripts/campaign-retry-failed")
            let failedBefore = try scene.db.scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM campaign.campaign_jobs WHERE status = 'FAILED'")

            // Default: a dry run. It names the jobs, changes nothing.
            let dry = try await Self.run(python, [retry, "--page-size", "2"], env: scene.env)
            #expect(dry.status == 0, "\(dry.stderr)")
            #expect(dry.stdout.contains("dry run: nothing changed"), "\(dry.stdout)")
            #expect(dry.stdout.contains("to retry:       4"), "\(dry.stdout)")
            for id in plan.retryable { #expect(dry.stdout.contains("would retry  \(String(id).leftPad(2))"), "job \(id):\n\(dry.stdout)") }
            #expect(try scene.db.scalar("SELECT string_agg(id::text, ',' ORDER BY id) FROM campaign.campaign_jobs WHERE status = 'FAILED'") == failedBefore)

            // --apply, in batches of 3 (two jobs.retry calls), paging jobs.list 2 at a time.
            let applied = try await Self.run(
                python, [retry, "--apply", "--json", "--batch-size", "3", "--page-size", "2", "--attempts", "2"], env: scene.env)
            #expect(applied.status == 0, "\(applied.stderr)")
            let summary = try Self.object(applied.stdout)
            #expect(Set((summary["retried"] as? [Int]) ?? []) == Set(plan.retryable.map(Int.init)), "\(summary)")
            #expect((summary["batches"] as? [Any])?.count == 2)
            #expect(summary["leftAlone"] as? [String: Int] == ["REJECTED": 1, "reported": 1, "outcome_unknown": 1], "\(summary)")
            #expect(summary["failedInWindow"] as? Int == 7 && summary["failedTotal"] as? Int == 9, "\(summary)")
            let window = summary["window"] as? [String: Any] ?? [:]
            #expect(window["start"] as? String == plan.yesterdayStart && window["end"] as? String == plan.todayStart, "\(window)")

            // Exactly those jobs are QUEUED again, due now, with two more attempts; nothing else moved.
            let ids = plan.retryable.map(String.init).joined(separator: ",")
            #expect(try scene.db.scalar("""
                SELECT string_agg(id::text, ',' ORDER BY id) FROM campaign.campaign_jobs WHERE status = 'QUEUED' AND id <> \(plan.open)
                """) == ids)
            #expect(try scene.db.scalar("""
                SELECT bool_and(max_attempts = attempts_made + 2 AND run_at <= now()) FROM campaign.campaign_jobs WHERE id IN (\(ids))
                """) == "t")
            let stillFailed = Set(failedBefore?.split(separator: ",").compactMap { Int64($0) } ?? []).subtracting(plan.retryable)
            #expect(try scene.db.scalar("""
                SELECT string_agg(id::text, ',' ORDER BY id) FROM campaign.campaign_jobs WHERE status = 'FAILED'
                """) == stillFailed.sorted().map(String.init).joined(separator: ","))

            // Again: nothing left to do. A named reason and a window of its own.
            let again = try await Self.run(python, [retry, "--apply"], env: scene.env)
            #expect(again.status == 0 && again.stdout.contains("to retry:       0") && again.stdout.contains("nothing to retry"), "\(again)")
            let old = try await Self.run(
                python, [retry, "--since", plan.threeDaysAgo, "--until", plan.yesterdayStart, "--reasons", "NO_ANSWER", "--json"],
                env: scene.env)
            let oldSummary = try Self.object(old.stdout)
            #expect((oldSummary["selected"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [Int(plan.oldFailure)], "\(old)")
            #expect(oldSummary["dryRun"] as? Bool == true)

            // Usage errors: exit 2, before anything is asked.
            let bad = try await Self.run(python, [retry, "--day", "2026-02-30"], env: scene.env)
            #expect(bad.status == 2 && bad.stderr.contains("--day wants"), "\(bad)")
        }
    }

    // MARK: campaign-daily-report

    @Test func dailyReportNumbersMatchTheDatabase() async throws {
        let python = try Self.tool("python3")
        try await Self.withScene("clireport") { scene in
            let plan = try await Self.prepareFailures(scene)
            let report = Self.script("scripts/campaign-daily-report")

            for day in ["yesterday", "today"] {
                let r = try await Self.run(python, [report, "--day", day, "--json", "--page-size", "3"], env: scene.env)
                #expect(r.status == 0, "\(r.stderr)")
                let json = try Self.object(r.stdout)
                let window = json["window"] as? [String: Any] ?? [:]
                let (start, end) = (window["start"] as? String ?? "", window["end"] as? String ?? "")
                if day == "yesterday" { #expect(start == plan.yesterdayStart && end == plan.todayStart, "\(window)") }
                #expect(window["timezone"] as? String == Self.campaignTimezone)
                func n(_ sql: String) throws -> Int { Int(try scene.db.scalar(sql) ?? "") ?? -1 }

                let jobs = json["jobs"] as? [String: Any] ?? [:]
                #expect(jobs["enqueued"] as? Int == (try n("""
                    SELECT count(*) FROM campaign.campaign_jobs WHERE enqueued_at >= '\(start)' AND enqueued_at < '\(end)'
                    """)), "\(day): \(jobs)")
                let finished = jobs["finished"] as? [String: Int] ?? [:]
                for (status, column) in [("COMPLETED", "completed_at"), ("FAILED", "failed_at"), ("SKIPPED", "updated_at")] {
                    let expected = try n("""
                        SELECT count(*) FROM campaign.campaign_jobs
                        WHERE status = '\(status)' AND \(column) >= '\(start)' AND \(column) < '\(end)'
                        """)
                    #expect(finished[status] == expected, "\(day) \(status): \(finished)")
                }
                // By status and outcome, keyed like jobs.tally.
                let byOutcome = jobs["byOutcome"] as? [String: Int] ?? [:]
                var expectedByOutcome: [String: Int] = [:]
                for row in try Self.rows(scene, """
                    SELECT status || coalesce('/' || coalesce(result ->> 'outcome', result ->> 'reason'), ''), count(*)
                    FROM campaign.campaign_jobs
                    WHERE (status = 'COMPLETED' AND completed_at >= '\(start)' AND completed_at < '\(end)')
                       OR (status = 'FAILED' AND failed_at >= '\(start)' AND failed_at < '\(end)')
                       OR (status = 'SKIPPED' AND updated_at >= '\(start)' AND updated_at < '\(end)')
                    GROUP BY 1
                    """) { expectedByOutcome[row[0]] = Int(row[1]) }
                #expect(byOutcome == expectedByOutcome, "\(day)")
                // Calls of the day (started then, or logged then without a start), by outcome.
                let calls = json["calls"] as? [String: Any] ?? [:]
                var expectedCalls: [String: Int] = [:]
                for row in try Self.rows(scene, """
                    SELECT outcome, count(*) FROM campaign.call_logs
                    WHERE coalesce(started_at, created_at) >= '\(start)' AND coalesce(started_at, created_at) < '\(end)' GROUP BY 1
                    """) { expectedCalls[row[0]] = Int(row[1]) }
                #expect(calls["jobs"] as? Int == (try n("""
                    SELECT count(DISTINCT job_id) FROM campaign.call_logs
                    WHERE coalesce(started_at, created_at) >= '\(start)' AND coalesce(started_at, created_at) < '\(end)'
                    """)), "\(day)")
                #expect(calls["byOutcome"] as? [String: Int] == expectedCalls, "\(day): \(calls)")
                #expect(calls["total"] as? Int == expectedCalls.values.reduce(0, +))
                #expect(calls["byAgent"] as? [String: Int] == (expectedCalls.isEmpty ? [:] : ["py-test-agent": expectedCalls.values.reduce(0, +)]))
                // The whole table now, as jobs.tally says.
                let now = (json["now"] as? [String: Any])?["byStatus"] as? [String: Int] ?? [:]
                #expect(now["FAILED"] == (try n("SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'FAILED'")))
                // Only the jobs changed since the day began are read (jobs.list updatedSince).
                #expect(json["jobsScanned"] as? Int == (try n("SELECT count(*) FROM campaign.campaign_jobs WHERE updated_at >= '\(start)'")))
            }
            // The law's audit of yesterday: refusals by rule, the suppression list's changes.
            _ = try scene.db.connect().query(unsafeSQL: """
                INSERT INTO campaign.dial_refusals (at, job_id, campaign_id, customer_id, phone, rule, by)
                SELECT '\(plan.yesterdayStart)'::timestamptz + interval '1 hour', 1, 1, 1, '+13055550100', r, 'py-test-agent'
                FROM unnest(ARRAY['jurisdiction_hours', 'jurisdiction_hours', 'suppressed']) r
                """)
            _ = try scene.db.connect().query(unsafeSQL: """
                INSERT INTO campaign.suppression_changes (at, phone, action, reason, source, by)
                VALUES ('\(plan.yesterdayStart)'::timestamptz + interval '2 hours', '+13055550100', 'added', 'asked', 'call', 'agent:a'),
                       ('\(plan.todayStart)'::timestamptz + interval '1 minute', '+13055550101', 'added', 'asked', 'call', 'agent:a')
                """)
            // Yesterday holds what the plan put there.
            let y = try Self.object(try await Self.run(python, [report, "--json"], env: scene.env).stdout)
            let law = y["law"] as? [String: Any] ?? [:]
            #expect(law["refusalsByRule"] as? [String: Int] == ["jurisdiction_hours": 2, "suppressed": 1], "\(law)")
            #expect(law["suppressionChangesTotal"] as? Int == 1)
            #expect((law["suppressionChanges"] as? [[String: Any]])?.first?["by"] as? String == "agent:a")
            #expect((y["jobs"] as? [String: Any])?["finished"] as? [String: Int] == ["COMPLETED": 1, "FAILED": 7, "SKIPPED": 1])
            let failures = (y["failures"] as? [[String: Any]] ?? []).reduce(into: [String: Int]()) {
                $0[$1["reason"] as? String ?? "?"] = $1["count"] as? Int
            }
            #expect(failures == ["NO_ANSWER": 1, "BUSY": 1, "FAILED": 1, "REJECTED": 1, "reported": 1, "connection_lost": 1, "outcome_unknown": 1])
            #expect((y["calls"] as? [String: Any])?["total"] as? Int == 5)

            // The text form.
            let text = try await Self.run(python, [report], env: scene.env)
            #expect(text.status == 0, "\(text.stderr)")
            for line in [
                "Jobs finished: 9   COMPLETED 1, FAILED 7, SKIPPED 1", "Calls placed: 5 (for 5 jobs)", "FAILED/outcome_unknown",
                "Calling within the law: 3 refusals and deferrals at the pre-dial check, 1 suppression list changes",
            ] {
                #expect(text.stdout.contains(line), "\(line) in:\n\(text.stdout)")
            }
            #expect(text.stdout.range(of: #"outcome_unknown +1  no"#, options: .regularExpression) != nil, "\(text.stdout)")
        }
    }

    // MARK: Node

    @Test func nodeClientRunsItsExampleAndSelfTestAgainstTheCoordinator() async throws {
        let node = try Self.tool("node")
        try await Self.withScene("clinode") { scene in
            try await Self.seedCustomers(scene, refs: ["web-1", "web-2"])

            let example = try await Self.run(
                node, [Self.script("protocol/node/example.js"), "--enqueue", "web-1", "--enqueue", "nobody"], env: scene.env)
            #expect(example.status == 0, "\(example.stdout)\n\(example.stderr)")
            for line in [
                "database up, leader yes, 0 agents", "queue: QUEUED 0, ACTIVE 0, COMPLETED 0, FAILED 0, SKIPPED 0",
                "failed jobs in all: 0", "enqueue web-1: enqueued 1, existing 0, job #", "QUEUED; again: enqueued 0, existing 1",
                "enqueue nobody: rejected: unknown customer", "jobs.get 999999999: NOT_FOUND (code 1002, retryable false)",
            ] {
                #expect(example.stdout.contains(line), "\(line) in:\n\(example.stdout)")
            }
            // After the example, which expects an empty queue (the self-test's events test enqueues).
            let selftest = try await Self.run(node, [Self.script("protocol/node/selftest.js"), "--socket", scene.socket])
            #expect(selftest.status == 0, "\(selftest.stdout)\n\(selftest.stderr)")
            #expect(selftest.stdout.contains("\n13 passed, 0 failed"), "\(selftest.stdout)")
            #expect(selftest.stdout.contains("ok - coordinator: 300 concurrent calls"), "\(selftest.stdout)")

            #expect(try scene.db.scalar("""
                SELECT count(*) || ' ' || min(j.status::text) || ' ' || min(j.reason) FROM campaign.campaign_jobs j
                JOIN campaign.customers c ON c.id = j.customer_id WHERE c.external_ref = 'web-1' AND j.queue_job_id LIKE 'web/web-1/%'
                """) == "1 QUEUED web")

            let offline = try await Self.run(node, [Self.script("protocol/node/example.js"), "--socket", "/nonexistent/c.sock"])
            #expect(offline.status == 1 && offline.stderr.contains("connection problem (connect)"), "\(offline)")
        }
    }

    // MARK: Data

    static let campaignTimezone = "America/New_York"

    /// What `prepareFailures` made.
    struct Plan {
        /// FAILED yesterday for a reason the retry script retries by default.
        var retryable: [Int64]
        /// FAILED NO_ANSWER two days before yesterday.
        var oldFailure: Int64
        /// Enqueued yesterday, never leased.
        var open: Int64
        var yesterdayStart: String
        var todayStart: String
        var threeDaysAgo: String
    }

    /// Jobs in every final state, made through the protocol as an agent would, then moved in
    /// time: most to yesterday (campaign timezone), one two days earlier, two left today.
    ///
    ///  0 NO_ANSWER  1 BUSY  2 FAILED (call outcomes, attempts used up) → retried by default
    ///  3 REJECTED  4 reported without outcome  5 outcome_unknown                → left alone
    ///  6 connection_lost (no call placed)                                       → retried
    ///  7 COMPLETED ANSWERED  8 SKIPPED agent                                    → not FAILED
    ///  9 NO_ANSWER three days ago, 10 BUSY today, 11 VOICEMAIL today           → outside yesterday
    /// 12 QUEUED, enqueued yesterday
    static func prepareFailures(_ scene: Scene) async throws -> Plan {
        let refs = (0...12).map { String(format: "cs-%02d", $0) }
        try await Self.seedCustomers(scene, refs: refs)
        let socket = scene.socket
        let tz = Self.campaignTimezone
        try await RPCClient.withConnection(socketPath: socket) { admin in
            _ = try await admin.call(SetAutomation.self, .init(["timezone": .string(tz), "leaseSeconds": .int(5)]))
        }

        func enqueue(_ indexes: [Int]) async throws -> [Int64] {
            try await RPCClient.withConnection(socketPath: socket) { admin in
                let r = try await admin.call(EnqueueJobs.self, .init(jobs: indexes.map {
                    EnqueueItem(customerRef: refs[$0], queueJobId: "plan-\($0)", reason: "plan", maxAttempts: 1)
                }))
                return r.jobIds.compactMap { $0 }
            }
        }
        @Sendable func lease(_ client: RPCClient, _ n: Int) async throws -> [LeasedJob] {
            var jobs: [LeasedJob] = []
            for _ in 0..<20 where jobs.count < n {
                jobs += try await client.call(LeaseJobs.self, .init(max: n - jobs.count, waitMs: 1000)).jobs
            }
            try #require(jobs.count == n, "leased \(jobs.count) of \(n) jobs")
            return jobs
        }
        @Sendable func record(_ key: String, _ outcome: CallOutcome) -> CallRecord {
            let now = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withInternetDateTime, .withFractionalSeconds])
            return CallRecord(
                provider: "test", providerCallId: nil, idempotencyKey: key, startedAt: now, endedAt: now, outcome: outcome,
                durationMs: 1500, detail: nil)
        }

        // 5: dials, then its agent vanishes; the lease is made to run out → FAILED outcome_unknown.
        let unknownJob = try await enqueue([5])[0]
        try await RPCClient.withConnection(socketPath: socket) { agent in
            _ = try await agent.call(AgentHello.self, .init(agentId: "vanishing-agent", capacity: 1, version: "test"))
            let job = try await lease(agent, 1)[0]
            let d = try await agent.call(DialingJob.self, .init(jobId: job.jobId, leaseToken: job.leaseToken))
            #expect(d.allowed, "\(d)")
        }
        _ = try scene.db.connect().query(unsafeSQL: 
            "UPDATE campaign.campaign_jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1", [String(unknownJob)])
        // 6: leased, the agent's connection closes before dialing, no attempts left → FAILED connection_lost.
        let lostJob = try await enqueue([6])[0]
        try await RPCClient.withConnection(socketPath: socket) { agent in
            _ = try await agent.call(AgentHello.self, .init(agentId: "disconnected-agent", capacity: 1, version: "test"))
            _ = try await lease(agent, 1)
        }
        // The rest through one agent connection.
        let ids = try await enqueue([0, 1, 2, 3, 4, 7, 8, 9, 10, 11])
        let byRef: [String: Int64] = try await RPCClient.withConnection(socketPath: socket) { agent in
            var byRef: [String: Int64] = [:]
            _ = try await agent.call(AgentHello.self, .init(agentId: "py-test-agent", capacity: 20, version: "test"))
            for job in try await lease(agent, ids.count) {
                let i = Int(job.customer.externalRef.dropFirst(3))!
                byRef[job.customer.externalRef] = job.jobId
                let t = job.leaseToken
                if i == 8 {
                    _ = try await agent.call(SkipJob.self, .init(jobId: job.jobId, leaseToken: t, reason: "not today"))
                    continue
                }
                if i == 4 {
                    _ = try await agent.call(FailJob.self, .init(
                        jobId: job.jobId, leaseToken: t, retryable: false, error: "placer refused", outcome: nil, call: nil))
                    continue
                }
                let d = try await agent.call(DialingJob.self, .init(jobId: job.jobId, leaseToken: t))
                let key = try #require(d.idempotencyKey, "\(d)")
                let outcome: CallOutcome = [0: .noAnswer, 1: .busy, 2: .failed, 3: .rejected, 7: .answered, 9: .noAnswer, 10: .busy, 11: .voicemail][i]!
                if outcome == .answered || outcome == .voicemail {
                    _ = try await agent.call(CompleteJob.self, .init(jobId: job.jobId, leaseToken: t, outcome: outcome, call: record(key, outcome)))
                } else {
                    _ = try await agent.call(FailJob.self, .init(
                        jobId: job.jobId, leaseToken: t, retryable: outcome != .rejected, error: "call ended \(outcome.rawValue)",
                        outcome: outcome, call: record(key, outcome)))
                }
            }
            return byRef
        }
        let open = try await enqueue([12])[0]
        // The lease sweep runs every few seconds.
        let swept = try await scene.eventually(
            "SELECT status = 'FAILED' AND result ->> 'reason' = 'outcome_unknown' FROM campaign.campaign_jobs WHERE id = \(unknownJob)",
            within: .seconds(30))
        #expect(swept, "job \(unknownJob) did not become FAILED outcome_unknown:\n\(scene.logs())")
        #expect(try scene.db.scalar("SELECT result ->> 'reason' FROM campaign.campaign_jobs WHERE id = \(lostJob)") == "connection_lost")

        // Move them in time: yesterday 12:00 (campaign timezone) + i minutes; 9 to three days ago.
        let id = { (i: Int) -> Int64 in byRef[refs[i]]! }
        let yesterday = [id(0), id(1), id(2), id(3), id(4), unknownJob, lostJob, id(7), id(8), open]
        let conn = try scene.db.connect()
        func shift(_ ids: [Int64], to noonOfDaysAgo: Int) throws {
            let list = ids.map(String.init).joined(separator: ",")
            let at = "((date_trunc('day', now() AT TIME ZONE '\(tz)') - interval '\(noonOfDaysAgo) days' + interval '12 hours') AT TIME ZONE '\(tz)')"
            _ = try conn.query(unsafeSQL: """
                UPDATE campaign.campaign_jobs SET
                    enqueued_at = \(at) - interval '1 hour', run_at = \(at) - interval '1 hour',
                    started_at = CASE WHEN started_at IS NOT NULL THEN \(at) - interval '30 minutes' END,
                    completed_at = CASE WHEN completed_at IS NOT NULL THEN \(at) + id * interval '1 minute' END,
                    failed_at = CASE WHEN failed_at IS NOT NULL THEN \(at) + id * interval '1 minute' END,
                    updated_at = \(at) + id * interval '1 minute'
                WHERE id IN (\(list))
                """)
            _ = try conn.query(unsafeSQL: """
                UPDATE campaign.call_logs SET started_at = \(at) - interval '20 minutes', ended_at = \(at) - interval '19 minutes'
                WHERE job_id IN (\(list))
                """)
        }
        try shift(yesterday, to: 1)
        try shift([id(9)], to: 3)
        func time(_ sql: String) throws -> String {
            try scene.db.scalar("SELECT to_char((\(sql)) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')") ?? ""
        }
        return Plan(
            retryable: [id(0), id(1), id(2), lostJob].sorted(), oldFailure: id(9), open: open,
            yesterdayStart: try time("(date_trunc('day', now() AT TIME ZONE '\(tz)') - interval '1 day') AT TIME ZONE '\(tz)'"),
            todayStart: try time("date_trunc('day', now() AT TIME ZONE '\(tz)') AT TIME ZONE '\(tz)'"),
            threeDaysAgo: try time("(date_trunc('day', now() AT TIME ZONE '\(tz)') - interval '3 days') AT TIME ZONE '\(tz)'"))
    }

    static func seedCustomers(_ scene: Scene, refs: [String]) async throws {
        try await RPCClient.withConnection(socketPath: scene.socket) { admin in
            _ = try await admin.call(SetAutomation.self, .init(AutomationSettings.wideOpen.asObject().filter {
                ["workingHoursStart", "workingHoursEnd", "workingDays", "dailyCap", "cooldownMinutes", "maxConcurrentCalls",
                 "callsPerSecond"].contains($0.key)
            }))
            let r = try await admin.call(UpsertCustomers.self, .init(customers: refs.enumerated().map { i, ref in
                CustomerInput(externalRef: ref, phone: "+1415555\(String(format: "%04d", 100 + i))", timezone: "America/New_York")
            }))
            #expect(r.rejected.isEmpty, "\(r.rejected)")
        }
    }

    // MARK: Processes

    /// A scene with a running coordinator, torn down after `body` whatever happens.
    static func withScene(_ label: String, _ body: (Scene) async throws -> Void) async throws {
        let scene = try await Scene(label)
        do {
            scene.try_coordinator()
            try await scene.waitForSocket()
            try await body(scene)
        } catch {
            _ = await scene.tearDown()
            throw error
        }
        _ = await scene.tearDown()
    }

    /// The absolute path of `name` on PATH; fails the test (never skips it) when it is missing.
    static func tool(_ name: String) throws -> String {
        struct Missing: Error, CustomStringConvertible {
            var name: String
            var description: String {
                "\(name) is not installed (not found on PATH): the client tests need it. scripts/test installs it "
                    + "(scripts/lib/common.sh, ensure_packages: apt-get install python3 nodejs)"
            }
        }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        Issue.record(Missing(name: name))
        throw Missing(name: name)
    }

    /// Runs a program to its end (killed after `timeout`) and returns its status and output.
    static func run(
        _ executable: String, _ arguments: [String], env: [String: String] = [:], stdin: String? = nil,
        timeout: Duration = .seconds(120)
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "CAMPAIGN_SOCKET")
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe()
        let err = Pipe()
        let input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let pid = p.processIdentifier
        let killer = Task {
            try await Task.sleep(for: timeout)
            kill(pid, SIGKILL)
        }
        // On Dispatch's threads: blocking the cooperative pool would stall the whole test process.
        async let o = blocking { out.fileHandleForReading.readDataToEndOfFile() }
        async let e = blocking { err.fileHandleForReading.readDataToEndOfFile() }
        let (od, ed) = await (o, e)
        await blocking { p.waitUntilExit() }
        killer.cancel()
        return (p.terminationStatus, String(decoding: od, as: UTF8.self), String(decoding: ed, as: UTF8.self))
    }

    static func object(_ text: String) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
        return try #require(value as? [String: Any], "not a JSON object: \(text.prefix(500))")
    }

    static func rows(_ scene: Scene, _ sql: String) throws -> [[String]] {
        let r = try scene.db.connect().query(unsafeSQL: sql)
        return (0..<r.count).map { i in [r[i, 0] ?? "", r[i, 1] ?? ""] }
    }
}

extension String {
    fileprivate func leftPad(_ n: Int) -> String { String(repeating: " ", count: max(0, n - self.count)) + self }
}
