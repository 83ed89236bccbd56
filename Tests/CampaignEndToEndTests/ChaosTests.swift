import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Leasing under fire: two coordinators on one database, six agents killed and restarted at
/// random, the maintenance leader killed — and still every job ends once, no attempt is
/// dialed twice, and the counts add up (the simulated provider's own dial log is the witness).
@Suite("Chaos", .serialized)
struct ChaosTests {
    static let jobs = Int(ProcessInfo.processInfo.environment["CAMPAIGN_CHAOS_JOBS"] ?? "") ?? 20_000
    /// `CAMPAIGN_CHAOS_KILLS=0` runs the same scene without killing anything (a baseline).
    static let kills = ProcessInfo.processInfo.environment["CAMPAIGN_CHAOS_KILLS"] != "0"

    @Test func twoCoordinatorsSixAgentsKilledAtRandomEveryJobEndsOnceAndIsDialedAtMostOncePerAttempt() async throws {
        let scene = try await Scene("chaos")
        var rng = SystemRandomNumberGenerator()
        let names = ["c1", "c2"]
        scene.try_coordinator("c1")
        try await scene.waitForSocket("c1")
        // Settings first: another coordinator would use its cached copy for up to 5 s.
        let set = try await scene.ctl(
            ["automation", "set", "leaseSeconds=5", "retryBaseMs=20", "retryCapMs=200", "maxAttempts=3"]
                + AutomationSettings.wideOpenCtlArguments, coordinator: "c1")
        #expect(set.status == 0, "\(set.stderr)")
        scene.try_coordinator("c2")
        try await scene.waitForSocket("c2")

        var agents: [String: ManagedProcess] = [:]
        func start(_ id: String) throws {
            let coordinator = names[Int(id.last!.asciiValue! - 48) % 2]
            agents[id] = try scene.agent(id, coordinator: coordinator, capacity: 40, durationMs: "1-30")
        }
        for i in 1...6 { try start("agent\(i)") }

        let files = try scene.writeCustomers(Self.jobs)
        let imported = try await scene.ctl(["customers", "import", files.csv], coordinator: "c1")
        #expect(imported.stdout.contains("\(Self.jobs) new"), "\(imported.stdout)\(imported.stderr)")
        let enqueued = try await scene.ctl(["jobs", "enqueue", "--file", files.refs, "--reason", "chaos"], coordinator: "c2")
        #expect(enqueued.stdout.contains("enqueued \(Self.jobs)"), "\(enqueued.stdout)\(enqueued.stderr)")

        // Chaos while the queue drains: SIGKILL an agent at a random moment and restart it;
        // once, kill the maintenance leader and bring it back a few seconds later.
        let start0 = ContinuousClock.now
        var kills = 0
        var leaderKilled = false
        let deadline = start0 + .seconds(600)
        while ContinuousClock.now < deadline {
            if try scene.db.scalar("SELECT count(*) = 0 FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE')") == "t" {
                break
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 200...900, using: &rng)))
            guard Self.kills else { continue }
            let victim = "agent\(Int.random(in: 1...6, using: &rng))"
            agents[victim]?.signal(SIGKILL)
            _ = await agents[victim]?.waitExit(timeout: .seconds(5))
            try start(victim)
            kills += 1

            if !leaderKilled && ContinuousClock.now - start0 > .seconds(3) {
                leaderKilled = true
                let leader = try await Self.leader(scene, names)
                let survivor = names.first { $0 != leader }!
                scene.processes.last { $0.name.hasPrefix(leader + "-") && $0.isRunning }?.signal(SIGKILL)
                // Maintenance resumes on the other coordinator within seconds.
                var took = false
                for _ in 0..<100 where !took {
                    try await Task.sleep(for: .milliseconds(100))
                    took = try await Self.isLeader(scene, survivor)
                }
                #expect(took, "the surviving coordinator did not take over maintenance")
                scene.try_coordinator(leader)
                try await scene.waitForSocket(leader)
            }
        }
        let elapsed = ContinuousClock.now - start0
        print("chaos: \(Self.jobs) jobs, \(kills) agent kills, leader killed: \(leaderKilled), drained in \(elapsed)")

        // Every job ended.
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE status IN ('COMPLETED', 'FAILED', 'SKIPPED')") == String(Self.jobs),
                "not all jobs ended:\n\(scene.logs())")
        // The provider's record: no idempotency key (job, attempt) was ever dialed twice.
        let dials = scene.dials()
        #expect(!dials.isEmpty)
        #expect(dials.values.allSatisfy { $0 == 1 }, "dialed twice: \(dials.filter { $0.value > 1 }.prefix(5))")
        // Every dial belongs to an attempt that was started, and no job was dialed past its attempts.
        let conn = try scene.db.connect()
        var attempts: [String: (made: Int, status: String, reason: String?)] = [:]
        for r in try conn.query(unsafeSQL: "SELECT queue_job_id, attempts_made, status::text, result ->> 'reason' AS reason FROM campaign.campaign_jobs").all {
            attempts[try r.string("queue_job_id")] = (try r.int("attempts_made"), try r.string("status"), r["reason"])
        }
        var dialedAttempts: [String: [Int]] = [:]
        for key in dials.keys {
            let parts = key.split(separator: "#")
            guard parts.count == 2, let n = Int(parts[1]), let job = attempts[String(parts[0])] else {
                Issue.record("a dial for no job: \(key)")
                continue
            }
            #expect(n >= 1 && n <= job.made, "dial \(key) beyond the attempts made (\(job.made))")
            dialedAttempts[String(parts[0]), default: []].append(n)
        }
        // An unknown outcome (agent killed while DIALING — maybe before its call even rang) is
        // never followed by another attempt: nothing was dialed past the attempt that became unknown.
        for (q, job) in attempts where job.status == "FAILED" && job.reason == "outcome_unknown" {
            #expect((dialedAttempts[q]?.max() ?? 0) <= job.made, "job \(q) was dialed again after an unknown outcome")
        }
        let byStatus = try conn.query(unsafeSQL: 
            "SELECT status::text || coalesce('/' || (result ->> 'reason'), '') AS k, count(*) AS n FROM campaign.campaign_jobs GROUP BY 1 ORDER BY 1"
        ).all.map { "\($0["k"] ?? "?")=\($0["n"] ?? "?")" }
        print("chaos outcome: \(byStatus.joined(separator: " ")); dials \(dials.count)")
        // Call logs are a subset of the dials (a killed agent's last report may be lost) and
        // cover every completed job's last attempt.
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.call_logs").flatMap { Int($0) }.map { $0 <= dials.count } == true)
        #expect(try scene.db.scalar("""
            SELECT count(*) = 0 FROM campaign.campaign_jobs j
            WHERE j.status = 'COMPLETED' AND NOT EXISTS (
                SELECT 1 FROM campaign.call_logs c WHERE c.job_id = j.id AND c.attempt = j.attempts_made)
            """) == "t")
        // The counts add up.
        let tally = try await scene.ctl(["jobs", "tally", "--json"], coordinator: "c1")
        #expect(tally.stdout.contains("\"total\"") || tally.status == 0)
        #expect(try scene.db.scalar("SELECT sum(n) FROM (SELECT count(*) AS n FROM campaign.campaign_jobs GROUP BY status) t") == String(Self.jobs))
        _ = await scene.tearDown()
    }

    @Test func anAgentKilledWhileDialingLeavesAnUnknownOutcomeThatIsNeverRedialed() async throws {
        let scene = try await Scene("dialkill")
        try scene.coordinator()
        try await scene.waitForSocket()
        _ = try await scene.ctl(["automation", "set", "leaseSeconds=5"] + AutomationSettings.wideOpenCtlArguments)
        let files = try scene.writeCustomers(1)
        _ = try await scene.ctl(["customers", "import", files.csv])
        _ = try await scene.ctl(["jobs", "enqueue", "--file", files.refs])
        // A long call: the agent is killed in the middle of it.
        let agent = try scene.agent("slow", capacity: 1, durationMs: "60000-60000")
        #expect(try await scene.eventually("SELECT phase = 'DIALING' FROM campaign.campaign_jobs", within: .seconds(30)))
        // DIALING commits a moment before the placer records its dial: kill in the call, not before it.
        let ringing = ContinuousClock.now + .seconds(30)
        while scene.dials().values.reduce(0, +) < 1, ContinuousClock.now < ringing { try await Task.sleep(for: .milliseconds(20)) }
        agent.signal(SIGKILL)
        // After the lease runs out: FAILED outcome_unknown.
        #expect(try await scene.eventually(
            "SELECT status = 'FAILED' AND result ->> 'reason' = 'outcome_unknown' FROM campaign.campaign_jobs", within: .seconds(30)))
        // Another agent does not redial it.
        try scene.agent("other", capacity: 1, durationMs: "1-5")
        try await Task.sleep(for: .seconds(2))
        #expect(scene.dials().values.reduce(0, +) == 1)
        #expect(try scene.db.scalar("SELECT attempts_made FROM campaign.campaign_jobs") == "1")
        _ = await scene.tearDown()
    }

    static func health(_ scene: Scene, _ coordinator: String) async throws -> [String: Any] {
        let r = try await scene.ctl(["health", "--json"], coordinator: coordinator)
        return (try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    static func isLeader(_ scene: Scene, _ coordinator: String) async throws -> Bool {
        try await self.health(scene, coordinator)["leader"] as? Bool ?? false
    }

    static func leader(_ scene: Scene, _ names: [String]) async throws -> String {
        for _ in 0..<100 {
            for n in names where try await self.isLeader(scene, n) { return n }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("no coordinator became the leader")
        return names[0]
    }
}
