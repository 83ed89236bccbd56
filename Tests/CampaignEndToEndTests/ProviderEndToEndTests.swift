import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real agents placing calls through the `http` placer against a provider on loopback that
/// counts calls per idempotency key, while agents are killed and restarted: no key is ever
/// called twice, no job is called past its attempts, and the call logs agree with the provider.
@Suite("Provider end to end", .serialized)
struct ProviderEndToEndTests {
    static let jobs = Int(ProcessInfo.processInfo.environment["CAMPAIGN_PROVIDER_E2E_JOBS"] ?? "") ?? 3000

    /// The provider's final status for a key: a fixed mix, so the expected outcome of every call is known.
    static func finalStatus(_ key: String) -> String {
        var h: UInt64 = 1469598103934665603
        for b in key.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
        switch h % 10 {
        case 0..<6: return "completed"
        case 6, 7: return "no-answer"
        case 8: return "busy"
        default: return "failed"
        }
    }

    static let outcomeOf = [
        "completed": "ANSWERED", "no-answer": "NO_ANSWER", "busy": "BUSY", "failed": "FAILED",
    ]

    @Test func agentsKilledAndRestartedNeverCallAKeyTwice() async throws {
        let scene = try await Scene("provider")
        var b = FakeProvider.Behaviour()
        b.failFirstPosts = 1  // every call's first POST gets a 503: the retry path runs all the time
        b.callDuration = { _ in .milliseconds(Int.random(in: 20...400)) }
        b.finalStatus = Self.finalStatus
        let provider = FakeProvider(behaviour: b)
        let port = try await provider.start()
        let tokenFile = scene.dir.appendingPathComponent("provider-token").path
        try "test-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)

        try scene.coordinator()
        try await scene.waitForSocket()
        let set = try await scene.ctl(
            ["automation", "set", "leaseSeconds=5", "retryBaseMs=20", "retryCapMs=200", "maxAttempts=3"]
                + AutomationSettings.wideOpenCtlArguments)
        #expect(set.status == 0, "\(set.stderr)")
        var agents: [String: ManagedProcess] = [:]
        func start(_ id: String) throws {
            agents[id] = try scene.agent(
                id,
                arguments: [
                    "--capacity", "25", "--placer", "http", "--http-endpoint", "http://127.0.0.1:\(port)/calls",
                    "--http-token-file", tokenFile, "--http-poll-ms", "25", "--call-timeout", "20",
                ])
        }
        for i in 1...4 { try start("agent\(i)") }

        let files = try scene.writeCustomers(Self.jobs)
        _ = try await scene.ctl(["customers", "import", files.csv])
        let enqueued = try await scene.ctl(["jobs", "enqueue", "--file", files.refs, "--reason", "provider-e2e"])
        #expect(enqueued.stdout.contains("enqueued \(Self.jobs)"), "\(enqueued.stdout)\(enqueued.stderr)")

        var rng = SystemRandomNumberGenerator()
        var kills = 0
        let start0 = ContinuousClock.now
        while ContinuousClock.now < start0 + .seconds(600) {
            if try scene.db.scalar("SELECT count(*) = 0 FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE')") == "t" {
                break
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 300...1000, using: &rng)))
            let victim = "agent\(Int.random(in: 1...4, using: &rng))"
            agents[victim]?.signal(SIGKILL)
            _ = await agents[victim]?.waitExit(timeout: .seconds(5))
            try start(victim)
            kills += 1
        }
        print("provider e2e: \(Self.jobs) jobs, \(kills) agent kills, drained in \(ContinuousClock.now - start0)")
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE status IN ('COMPLETED', 'FAILED', 'SKIPPED')") == String(Self.jobs),
                "not all jobs ended:\n\(scene.logs())")

        // The provider's own count: every idempotency key called at most once.
        let created = provider.callsCreated
        // Every job reached the provider, but one whose agent was killed while DIALING before its
        // call was created (in the 503's backoff, say): that one ended `outcome_unknown`, never
        // redialed; and one whose every attempt was lost before dialing (`connection_lost`,
        // `lease_expired`, as rare as three kills of its agents in a row).
        let calledJobs = Set(created.keys.compactMap { $0.split(separator: "#").first.map(String.init) })
        var uncalled = 0
        for r in try scene.db.connect().query(unsafeSQL: 
            "SELECT queue_job_id, status::text AS status, result ->> 'reason' AS reason FROM campaign.campaign_jobs"
        ).all where !calledJobs.contains(try r.string("queue_job_id")) {
            uncalled += 1
            #expect(
                r["status"] == "FAILED" && ["outcome_unknown", "connection_lost", "lease_expired"].contains(r["reason"] ?? ""),
                "\(r["queue_job_id"] ?? "?") never reached the provider and ended \(r["status"] ?? "?")/\(r["reason"] ?? "-")")
        }
        #expect(uncalled < Self.jobs / 2, "most jobs never reached the provider: \(uncalled)")
        #expect(created.values.allSatisfy { $0 == 1 }, "called twice: \(created.filter { $0.value > 1 }.prefix(5))")
        #expect(provider.unauthorized == 0)

        // No job called past the attempts it made.
        let conn = try scene.db.connect()
        var made: [String: Int] = [:]
        for r in try conn.query(unsafeSQL: "SELECT queue_job_id, attempts_made FROM campaign.campaign_jobs").all {
            made[try r.string("queue_job_id")] = try r.int("attempts_made")
        }
        for key in created.keys {
            let parts = key.split(separator: "#")
            guard parts.count == 2, let n = Int(parts[1]), let m = made[String(parts[0])] else {
                Issue.record("a call for no job: \(key)")
                continue
            }
            #expect(n >= 1 && n <= m, "call \(key) beyond the attempts made (\(m))")
        }

        // Every call log is a call the provider placed, under the same key, with its real outcome.
        let callsByKey = Dictionary(uniqueKeysWithValues: provider.calls.map { ($0.key, $0) })
        var logs = 0
        var unknown = 0
        for r in try conn.query(unsafeSQL: 
            "SELECT idempotency_key, provider, provider_call_id, outcome, detail ->> 'outcomeKnown' AS known FROM campaign.call_logs"
        ).all {
            logs += 1
            let key = try r.string("idempotency_key")
            #expect(r["provider"] == "http")
            guard let call = callsByKey[key] else {
                Issue.record("call log for a key the provider never saw: \(key)")
                continue
            }
            #expect(r["provider_call_id"] == call.id)
            if r["known"] == "false" {
                unknown += 1
            } else {
                #expect(r["outcome"] == Self.outcomeOf[call.finalStatus], "\(key): \(r["outcome"] ?? "?") vs \(call.finalStatus)")
            }
        }
        #expect(logs > 0 && logs <= created.count)
        // Every completed job's last attempt is logged as an answered call.
        #expect(try scene.db.scalar("""
            SELECT count(*) = 0 FROM campaign.campaign_jobs j
            WHERE j.status = 'COMPLETED' AND NOT EXISTS (
                SELECT 1 FROM campaign.call_logs c WHERE c.job_id = j.id AND c.attempt = j.attempts_made AND c.outcome = 'ANSWERED')
            """) == "t")
        print("provider e2e: \(created.count) calls at the provider, \(uncalled) jobs never called (killed before the call was created), \(logs) call logs (\(unknown) unknown outcomes)")
        _ = await scene.tearDown()
        await provider.stop()
    }

    /// The README's exec example, run by real agents against the same provider.
    @Test func theExecExampleScriptPlacesEachCallOnce() async throws {
        let scene = try await Scene("exec-example")
        var b = FakeProvider.Behaviour()
        b.failFirstPosts = 1
        b.finalStatus = Self.finalStatus
        let provider = FakeProvider(behaviour: b)
        let port = try await provider.start()
        let tokenFile = scene.dir.appendingPathComponent("provider-token").path
        try "test-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/placers/http-provider-example").path
        let providerEnvironment = [
            "PROVIDER_URL": "http://127.0.0.1:\(port)/calls", "PROVIDER_TOKEN_FILE": tokenFile, "PROVIDER_POLL_SECONDS": "0.05",
        ]

        try scene.coordinator()
        try await scene.waitForSocket()
        _ = try await scene.ctl(["automation", "set", "retryBaseMs=20", "retryCapMs=200"] + AutomationSettings.wideOpenCtlArguments)
        for i in 1...2 {
            try scene.agent(
                "exec\(i)", arguments: ["--capacity", "10", "--placer", "exec", "--exec-command", script],
                environment: providerEnvironment)
        }
        let jobs = 60
        let files = try scene.writeCustomers(jobs)
        _ = try await scene.ctl(["customers", "import", files.csv])
        _ = try await scene.ctl(["jobs", "enqueue", "--file", files.refs])
        #expect(try await scene.eventually(
            "SELECT count(*) = 0 FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE')", within: .seconds(120)),
            "\(scene.logs())")
        let created = provider.callsCreated
        #expect(created.values.allSatisfy { $0 == 1 }, "called twice: \(created.filter { $0.value > 1 })")
        #expect(provider.posts.values.allSatisfy { $0 == 2 }, "each call: one 503, one accepted POST")
        let callsByKey = Dictionary(uniqueKeysWithValues: provider.calls.map { ($0.key, $0) })
        let conn = try scene.db.connect()
        let rows = try conn.query(unsafeSQL: "SELECT idempotency_key, provider, provider_call_id, outcome FROM campaign.call_logs").all
        #expect(rows.count == created.count, "one call log per placed call")
        for r in rows {
            let key = try r.string("idempotency_key")
            #expect(r["provider"] == "exec")
            #expect(r["provider_call_id"] == callsByKey[key]?.id)
            #expect(r["outcome"] == callsByKey[key].flatMap { Self.outcomeOf[$0.finalStatus] })
        }
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'COMPLETED'")
            == String(created.keys.filter { Self.finalStatus($0) == "completed" }.count))
        _ = await scene.tearDown()
        await provider.stop()
    }

    /// Pids of live (not zombie) processes whose command line is `cmdline`.
    static func running(_ cmdline: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.filter { pid in
            guard Int(pid) != nil,
                let cmd = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8),
                cmd.replacingOccurrences(of: "\0", with: " ").trimmingCharacters(in: .whitespaces) == cmdline,
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            return stat[stat.index(close, offsetBy: 2)] != "Z"
        }
    }

    /// What the coordinator records when an exec command hangs (unknown: failed for good, one
    /// attempt, a call log saying so) and when it exits non-zero (no call: retried to the
    /// attempts' end, no call logs).
    @Test func execFailuresEndJobsAsTheContractSays() async throws {
        let scene = try await Scene("exec-failures")
        let hang = scene.dir.appendingPathComponent("hang").path
        try "#!/bin/sh\nsleep 300 &\nsleep 300\n".write(toFile: hang, atomically: true, encoding: .utf8)
        let fail = scene.dir.appendingPathComponent("fail").path
        try "#!/bin/sh\necho 'provider account suspended' >&2\nexit 2\n".write(toFile: fail, atomically: true, encoding: .utf8)
        chmod(hang, 0o755)
        chmod(fail, 0o755)
        try scene.coordinator()
        try await scene.waitForSocket()
        _ = try await scene.ctl(["automation", "set", "retryBaseMs=20", "retryCapMs=100", "maxAttempts=3"] + AutomationSettings.wideOpenCtlArguments)
        let files = try scene.writeCustomers(2)
        _ = try await scene.ctl(["customers", "import", files.csv])
        _ = try await scene.ctl(["jobs", "enqueue", "e2e-0"])
        let hanging = try scene.agent("hang", arguments: ["--capacity", "1", "--placer", "exec", "--exec-command", hang, "--call-timeout", "2"])
        #expect(try await scene.eventually("SELECT status = 'FAILED' FROM campaign.campaign_jobs", within: .seconds(30)), "\(scene.logs())")
        #expect(try scene.db.scalar("SELECT attempts_made FROM campaign.campaign_jobs") == "1", "never redialed")
        #expect(try scene.db.scalar(
            "SELECT (result ->> 'error') LIKE 'outcome unknown:%' AND result ->> 'reason' = 'outcome_unknown' FROM campaign.campaign_jobs") == "t")
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.call_logs WHERE provider = 'exec' AND detail ->> 'outcomeKnown' = 'false'") == "1")
        // No `sleep` of the hanging command survived the limit.
        #expect(Self.running("sleep 300").isEmpty, "left running: \(Self.running("sleep 300"))")
        _ = await hanging.stop()

        _ = try await scene.ctl(["jobs", "enqueue", "e2e-1"])
        try scene.agent("fail", arguments: ["--capacity", "1", "--placer", "exec", "--exec-command", fail])
        #expect(try await scene.eventually(
            "SELECT j.status = 'FAILED' FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id WHERE c.external_ref = 'e2e-1'",
            within: .seconds(30)), "\(scene.logs())")
        #expect(try scene.db.scalar("""
            SELECT attempts_made || ' ' || ((result ->> 'error') LIKE 'no call placed: command exited with status 2%')
            FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id WHERE c.external_ref = 'e2e-1'
            """) == "3 true")
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.call_logs") == "1", "no call log for calls never placed")
        _ = await scene.tearDown()
    }

    /// Calls that end while the coordinator is down, by an agent that is then killed: their
    /// reports wait in the agent's spool and land when both are back — no outcome is lost and
    /// no attempt is dialed again.
    @Test func reportsSpooledByAKilledAgentLandAfterItsRestart() async throws {
        let scene = try await Scene("spool")
        let spool = scene.dir.appendingPathComponent("spool").path
        let coordinator = try scene.coordinator()
        try await scene.waitForSocket()
        _ = try await scene.ctl(["automation", "set", "leaseSeconds=5"] + AutomationSettings.wideOpenCtlArguments)
        let files = try scene.writeCustomers(10)
        _ = try await scene.ctl(["customers", "import", files.csv])
        _ = try await scene.ctl(["jobs", "enqueue", "--file", files.refs])
        let arguments = [
            "--capacity", "10", "--sim-duration-ms", "6000-8000", "--seed", "7", "--sim-dial-log", scene.dialLog,
            "--spool-dir", spool,
        ]
        let agent = try scene.agent("spooler", arguments: arguments)
        #expect(try await scene.eventually(
            "SELECT count(*) = 10 FROM campaign.campaign_jobs WHERE phase = 'DIALING'", within: .seconds(30)), "\(scene.logs())")
        // DIALING in the database is not enough: the agent must have had the answer and rung
        // (the simulated provider's log says so), or it gives the job back without calling.
        for _ in 0..<300 where scene.dials().count < 10 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(scene.dials().count == 10, "\(scene.logs())")
        coordinator.signal(SIGKILL)
        _ = await coordinator.waitExit(timeout: .seconds(5))
        // The calls end with no coordinator to hear it: the reports go to the spool.
        var spooled: [String] = []
        for _ in 0..<300 {
            spooled = ((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).filter { $0.hasSuffix(".json") }
            if spooled.count == 10 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(spooled.count == 10, "spooled: \(spooled)\n\(scene.logs())")
        agent.signal(SIGKILL)
        _ = await agent.waitExit(timeout: .seconds(5))

        try scene.coordinator()
        try await scene.waitForSocket()
        try scene.agent("spooler", arguments: arguments)
        // Every first attempt's outcome lands (as a report on the adopted lease, or as a late
        // report after its lease ran out), and the spool empties.
        #expect(try await scene.eventually(
            "SELECT count(DISTINCT job_id) = 10 FROM campaign.call_logs WHERE attempt = 1", within: .seconds(60)), "\(scene.logs())")
        #expect(try await scene.eventually(
            "SELECT count(*) = 0 FROM campaign.campaign_jobs WHERE result ->> 'reason' = 'outcome_unknown'", within: .seconds(30)))
        for _ in 0..<300 {
            if ((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).allSatisfy({ !$0.hasSuffix(".json") }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: spool)) ?? []).filter { $0.hasSuffix(".json") }.isEmpty)
        // No first attempt dialed twice.
        #expect(scene.dials().filter { $0.key.hasSuffix("#1") }.count == 10)
        #expect(scene.dials().values.allSatisfy { $0 == 1 })
        _ = await scene.tearDown()
    }
}
