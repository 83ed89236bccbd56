import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// No call left unknown (issue 16): real agents, killed while their calls are in flight and
/// restarted with their spools, against a provider on loopback that knows every call. Calls the
/// provider accepted are followed again after the restart; the rest are looked up
/// (`jobs.reconcile`). At the end no job is `outcome_unknown`, no key was called twice, and every
/// job ended as the provider says its call did.
@Suite("Reconciliation end to end", .serialized)
struct ReconcileEndToEndTests {
    static let jobs = Int(ProcessInfo.processInfo.environment["CAMPAIGN_RECONCILE_E2E_JOBS"] ?? "") ?? 600

    static func provider(_ scene: Scene, _ change: (inout FakeProvider.Behaviour) -> Void = { _ in }) async throws
        -> (FakeProvider, port: Int, tokenFile: String)
    {
        var b = FakeProvider.Behaviour()
        b.finalStatus = ProviderEndToEndTests.finalStatus
        change(&b)
        let provider = FakeProvider(behaviour: b)
        let port = try await provider.start()
        let tokenFile = scene.dir.appendingPathComponent("provider-token").path
        try "test-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        return (provider, port, tokenFile)
    }

    static func settings(_ scene: Scene, window: Int = 3600) async throws {
        let set = try await scene.ctl(
            ["automation", "set", "leaseSeconds=5", "retryBaseMs=20", "retryCapMs=200", "maxAttempts=3",
             "reconcileIntervalSeconds=1", "reconcileWindowSeconds=\(window)"] + AutomationSettings.wideOpenCtlArguments)
        #expect(set.status == 0, "\(set.stderr)")
    }

    static func enqueue(_ scene: Scene, _ n: Int) async throws {
        let files = try scene.writeCustomers(n)
        _ = try await scene.ctl(["customers", "import", files.csv])
        let enqueued = try await scene.ctl(["jobs", "enqueue", "--file", files.refs, "--reason", "reconcile-e2e"])
        #expect(enqueued.stdout.contains("enqueued \(n)"), "\(enqueued.stdout)\(enqueued.stderr)")
    }

    /// The agents of a test by id, restarted under the same id (and spool).
    final class Agents {
        var running: [String: ManagedProcess] = [:]
        let start: (String) throws -> ManagedProcess
        init(_ ids: [String], start: @escaping (String) throws -> ManagedProcess) throws {
            self.start = start
            for id in ids { self.running[id] = try start(id) }
        }
        func restart(_ id: String) async throws {
            self.running[id]?.signal(SIGKILL)
            _ = await self.running[id]?.waitExit(timeout: .seconds(5))
            self.running[id] = try self.start(id)
        }
    }

    /// Kills a random agent every 0.4–1.2 s (restarting it on its spool) until the queue is
    /// drained or `limit` passes; answers the number of kills.
    static func killAgents(_ scene: Scene, _ agents: Agents, limit: Duration) async throws -> Int {
        var kills = 0
        let began = ContinuousClock.now
        while ContinuousClock.now < began + limit {
            if try scene.db.scalar("SELECT count(*) = 0 FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE')") == "t" {
                break
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 400...1200)))
            try await agents.restart(agents.running.keys.randomElement()!)
            kills += 1
        }
        return kills
    }

    /// Every job ended as the provider says its last attempt's call did, no key was called
    /// twice, no job is left `outcome_unknown`, and every call log holds the provider's outcome.
    static func expectTheProvidersWord(_ scene: Scene, _ provider: FakeProvider, placer: String) throws {
        let conn = try scene.db.connect()
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE outcome_unknown") == "0")
        let created = provider.callsCreated
        #expect(created.values.allSatisfy { $0 == 1 }, "called twice: \(created.filter { $0.value > 1 }.prefix(5))")
        let callsByKey = Dictionary(uniqueKeysWithValues: provider.calls.map { ($0.key, $0) })
        var uncalled = 0
        for r in try conn.query(unsafeSQL: """
            SELECT j.queue_job_id, j.status::text AS status, j.attempts_made, j.result ->> 'reason' AS reason, l.outcome
            FROM campaign.campaign_jobs j
            LEFT JOIN campaign.call_logs l ON l.job_id = j.id AND l.attempt = j.attempts_made
            """).all
        {
            let key = "\(try r.string("queue_job_id"))#\(try r.int("attempts_made"))"
            let status = r["status"] ?? "?"
            guard let call = callsByKey[key] else {
                // Its last attempt never reached the provider: lost before dialing, with no attempt left.
                uncalled += 1
                #expect(status == "FAILED" && ["lease_expired", "connection_lost"].contains(r["reason"] ?? ""),
                        "\(key) has no call at the provider and ended \(status)/\(r["reason"] ?? "-")")
                continue
            }
            let outcome = ProviderEndToEndTests.outcomeOf[call.finalStatus]
            #expect(r["outcome"] == outcome, "\(key): logged \(r["outcome"] ?? "no call") vs the provider's \(call.finalStatus)")
            if outcome == "ANSWERED" {
                #expect(status == "COMPLETED", "\(key) answered but ended \(status)")
            } else {
                #expect(status == "FAILED" && r["reason"] == "reported", "\(key) ended \(status)/\(r["reason"] ?? "-")")
            }
        }
        #expect(uncalled < Self.jobs / 10, "\(uncalled) jobs never reached the provider")
        // Every call log is a call the provider placed, with its outcome.
        for r in try conn.query(unsafeSQL: "SELECT idempotency_key, provider, provider_call_id, outcome FROM campaign.call_logs").all {
            let key = try r.string("idempotency_key")
            guard let call = callsByKey[key] else {
                Issue.record("a call log for a key the provider never saw: \(key)")
                continue
            }
            #expect(r["provider"] == placer && r["provider_call_id"] == call.id)
            #expect(r["outcome"] == ProviderEndToEndTests.outcomeOf[call.finalStatus], "\(key)")
        }
    }

    /// Waits until every job has ended and none is `outcome_unknown`; answers the call logs a
    /// lookup settled (`detail.reconciled`).
    static func settle(_ scene: Scene) async throws -> String {
        let settled = try await scene.eventually(
            "SELECT count(*) = 0 FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE') OR outcome_unknown",
            within: .seconds(120))
        let left = try scene.db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE outcome_unknown") ?? "?"
        #expect(settled, "\(left) unknown:\n\(scene.logs())")
        return try scene.db.scalar("SELECT count(*) FROM campaign.call_logs WHERE detail ->> 'reconciled' = 'true'") ?? "0"
    }

    /// Lines of every process's log that contain `text`.
    static func logCount(_ scene: Scene, _ text: String) -> Int {
        scene.processes.reduce(0) { $0 + $1.log().components(separatedBy: text).count - 1 }
    }

    @Test func httpAgentsKilledWithCallsInFlightLeaveNoOutcomeUnknown() async throws {
        let scene = try await Scene("reconcile-http")
        let (provider, port, tokenFile) = try await Self.provider(scene) { b in
            b.failFirstPosts = 1
            // Long enough that every kill finds calls in flight, accepted or not yet.
            b.callDuration = { _ in .milliseconds(Int.random(in: 200...1500)) }
        }
        try scene.coordinator()
        try await scene.waitForSocket()
        try await Self.settings(scene)
        let agents = try Agents((1...4).map { "agent\($0)" }) { id in
            try scene.agent(
                id,
                arguments: [
                    "--capacity", "25", "--placer", "http", "--http-endpoint", "http://127.0.0.1:\(port)/calls",
                    "--http-token-file", tokenFile, "--http-poll-ms", "25", "--call-timeout", "20",
                    "--http-lookup-by-key-url", "http://127.0.0.1:\(port)/calls?idempotencyKey={idempotencyKey}",
                    "--reconcile-poll", "1", "--spool-dir", scene.dir.appendingPathComponent("spool-\(id)").path,
                ])
        }
        try await Self.enqueue(scene, Self.jobs)

        let began = ContinuousClock.now
        let kills = try await Self.killAgents(scene, agents, limit: .seconds(300))
        // The kills are over: what they left unknown is followed again or looked up.
        let reconciled = try await Self.settle(scene)
        let resumed = Self.logCount(scene, "following the call again after a restart")
        let redialed = Self.logCount(scene, "the provider has no such call")
        print("reconcile e2e (http): \(Self.jobs) jobs, \(kills) agent kills, settled in \(ContinuousClock.now - began): \(resumed) calls followed again after a restart, \(reconciled) outcomes looked up, \(redialed) never placed and dialed again")
        #expect(kills >= 5, "too few kills to mean anything")
        #expect(resumed > 0, "no kill found an accepted call in flight")
        #expect(Int(reconciled)! + redialed > 0, "no lookup settled anything")
        try Self.expectTheProvidersWord(scene, provider, placer: "http")
        // Lookups never created a call: every call was created by a POST, one per key.
        #expect(provider.calls.allSatisfy { provider.posts[$0.key] ?? 0 >= 1 })
        _ = await scene.tearDown()
        await provider.stop()
    }

    @Test func execAgentsWithALookupCommandLeaveNoOutcomeUnknown() async throws {
        let scene = try await Scene("reconcile-exec")
        let (provider, port, tokenFile) = try await Self.provider(scene) { b in
            b.callDuration = { _ in .milliseconds(Int.random(in: 300...1500)) }
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/placers/http-provider-example").path
        let providerEnvironment = [
            "PROVIDER_URL": "http://127.0.0.1:\(port)/calls", "PROVIDER_TOKEN_FILE": tokenFile, "PROVIDER_POLL_SECONDS": "0.05",
        ]
        try scene.coordinator()
        try await scene.waitForSocket()
        try await Self.settings(scene)
        let agents = try Agents(["exec1", "exec2"]) { id in
            try scene.agent(
                id,
                arguments: [
                    "--capacity", "10", "--placer", "exec", "--exec-command", script, "--exec-lookup-command", script,
                    "--call-timeout", "20", "--reconcile-poll", "1",
                    "--spool-dir", scene.dir.appendingPathComponent("spool-\(id)").path,
                ], environment: providerEnvironment)
        }
        let jobs = 150
        try await Self.enqueue(scene, jobs)
        let kills = try await Self.killAgents(scene, agents, limit: .seconds(300))
        let reconciled = try await Self.settle(scene)
        print("reconcile e2e (exec): \(jobs) jobs, \(kills) agent kills, \(reconciled) outcomes looked up by the lookup command")
        #expect(kills >= 3 && Int(reconciled)! > 0, "\(kills) kills, \(reconciled) looked up")
        try Self.expectTheProvidersWord(scene, provider, placer: "exec")
        _ = await scene.tearDown()
        await provider.stop()
    }

    @Test func aForgottenCallIsDialedOnceMoreAndAnUnansweredLookupGivesUpWithoutARedial() async throws {
        let scene = try await Scene("reconcile-limits")
        // Calls that do not end before the agent's hard limit: both jobs end outcome_unknown.
        let (provider, port, tokenFile) = try await Self.provider(scene) { b in
            b.neverEnds = true
            b.finalStatus = { _ in "completed" }  // the redial is answered, whatever its key
        }
        try scene.coordinator()
        try await scene.waitForSocket()
        let window = 6
        try await Self.settings(scene, window: window)
        try scene.agent(
            "a1",
            arguments: [
                "--capacity", "2", "--placer", "http", "--http-endpoint", "http://127.0.0.1:\(port)/calls",
                "--http-token-file", tokenFile, "--http-poll-ms", "50", "--call-timeout", "2", "--reconcile-poll", "1",
                "--http-lookup-by-key-url", "http://127.0.0.1:\(port)/calls?idempotencyKey={idempotencyKey}",
            ])
        try await Self.enqueue(scene, 2)
        #expect(try await scene.eventually(
            "SELECT count(*) = 2 FROM campaign.campaign_jobs WHERE outcome_unknown", within: .seconds(30)), "\(scene.logs())")
        let keys = try scene.db.connect().query(unsafeSQL: "SELECT idempotency_key FROM campaign.campaign_jobs ORDER BY id").all
            .map { try $0.string("idempotency_key") }
        let (forgotten, silent) = (keys[0], keys[1])
        // The provider forgets the first call; its status API stays down for the second.
        provider.setBehaviour { b in
            b.neverEnds = false
            b.forgets = { $0 == forgotten }
            b.failGets = 503
            b.failGetsOf = { $0 == silent }
        }
        // The first: "no such call" → queued once more, dialed under a fresh key, answered.
        let redialed = try await scene.eventually(
            "SELECT status = 'COMPLETED' AND attempts_made = 2 FROM campaign.campaign_jobs WHERE idempotency_key LIKE '%#2'",
            within: .seconds(60))
        let rows = try scene.db.connect().query(unsafeSQL:
            "SELECT id, status::text || '/' || coalesce(phase::text, '-') || ' ' || attempts_made || '/' || max_attempts || ' ' || coalesce(result::text, '') || ' run_at-now=' || (run_at - now())::text AS r FROM campaign.campaign_jobs ORDER BY id"
        ).all.map { $0["r"] ?? "?" }
        #expect(redialed, "\(rows)\n\(scene.logs())")
        let redial = forgotten.replacingOccurrences(of: "#1", with: "#2")
        #expect(provider.callsCreated[forgotten] == 1 && provider.callsCreated[redial] == 1)
        // The second: looked up while its window lasts, then left outcome_unknown, never redialed.
        try await Task.sleep(for: .seconds(window + 2))
        let asked = provider.gets.filter { $0.key == silent && $0.status == 503 }.count
        try await Task.sleep(for: .seconds(3))
        #expect(provider.gets.filter { $0.key == silent && $0.status == 503 }.count == asked, "still looked up after the window")
        #expect(asked >= 2, "looked up \(asked) times in its window")
        #expect(try scene.db.scalar(
            "SELECT status || '/' || (result ->> 'reason') || '/' || attempts_made FROM campaign.campaign_jobs WHERE idempotency_key = '\(silent)'")
            == "FAILED/outcome_unknown/1")
        #expect(provider.callsCreated[silent] == 1)
        #expect(provider.callsCreated.keys.filter { $0.hasPrefix(silent.dropLast(2)) }.count == 1, "the silent one was redialed")
        // An admin can ask again by hand: it is handed out at once (and still unknown).
        let id = try scene.db.scalar("SELECT id FROM campaign.campaign_jobs WHERE idempotency_key = '\(silent)'")!
        let asked2 = try await scene.ctl(["jobs", "reconcile", id])
        #expect(asked2.status == 0 && asked2.stdout.contains("to look up 1"), "\(asked2.stdout)\(asked2.stderr)")
        #expect(try await scene.eventually(
            "SELECT lookups > \(asked) FROM campaign.campaign_jobs WHERE id = \(id)", within: .seconds(10)))
        _ = await scene.tearDown()
        await provider.stop()
    }
}
