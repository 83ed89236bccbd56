import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// PostgreSQL frozen while agents call and report (issue 17): every process of a private cluster
/// stopped with SIGSTOP for 8 s — connections open, nothing answers, as with a stuck disk or a
/// partition. The real coordinator (database deadline 2 s, `health`'s real second) and agents.
@Suite("Frozen database", .serialized)
struct FrozenDatabaseTests {
    @Test func healthAnswersReportsAreRetriedAndNothingIsLostOrDoubledAfterTheThaw() async throws {
        let pg = try await PrivatePostgres.start()
        var frozen: [pid_t] = []
        do {
            try await Self.run(pg, frozen: &frozen)
        } catch {
            Issue.record("\(error)")
        }
        pg.thaw(frozen)
        await pg.stop()
    }

    static func run(_ pg: PrivatePostgres, frozen: inout [pid_t]) async throws {
        let jobs = 240
        let scene = try await Scene("frozen", cluster: pg.url)
        let n = try SystemdNotifyTests.notify(scene)
        defer { n.close() }
        let coordinator = try ManagedProcess(
            "campaign-coordinator",
            ["--socket", scene.socket, "--database-url", scene.db.url, "--database-timeout", "2"],
            environment: SystemdNotifyTests.env(n), logDir: scene.dir, name: "c")
        scene.processes.append(coordinator)
        try await scene.waitForSocket()
        let set = try await scene.ctl(["automation", "set"] + AutomationSettings.wideOpenCtlArguments)
        #expect(set.status == 0, "\(set.stderr)")
        let files = try scene.writeCustomers(jobs)
        _ = try await scene.ctl(["customers", "import", files.csv])
        let enqueued = try await scene.ctl(["jobs", "enqueue", "--file", files.refs])
        #expect(enqueued.stdout.contains("enqueued \(jobs)"), "\(enqueued.stdout) \(enqueued.stderr)")
        for id in ["f1", "f2"] {
            try scene.agent(id, arguments: [
                "--capacity", "6", "--sim-duration-ms", "300-900", "--sim-outcomes", "ANSWERED=1", "--seed", "3",
                "--sim-dial-log", scene.dialLog,
            ])
        }
        let reader = try scene.db.connect()
        func completed() throws -> Int {
            Int(try reader.query(unsafeSQL: "SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'COMPLETED'")[0, 0] ?? "") ?? -1
        }
        let started = ContinuousClock.now
        while try completed() < 30, ContinuousClock.now - started < .seconds(60) {
            try await Task.sleep(for: .milliseconds(200))
        }
        let before = try completed()
        #expect(before >= 30 && before < jobs, "\(before) completed before the freeze")

        frozen = pg.freeze()
        let frozenAt = ContinuousClock.now
        #expect(frozen.count >= 3, "froze \(frozen)")
        // Calls go on ending meanwhile: their reports meet the deadline and are retried.
        try await Task.sleep(for: .seconds(3))
        // Should a health wait for the database, the server is let go after 30 s rather than
        // the test hanging; that answer then says `up` and fails below.
        let pids = frozen
        let rescue = Task {
            try await Task.sleep(for: .seconds(30))
            pg.thaw(pids)
        }
        var answers: [(Duration, Int32, String)] = []
        for _ in 0..<3 {
            let asked = ContinuousClock.now
            let h = try await scene.ctl(["health"])
            answers.append((ContinuousClock.now - asked, h.status, h.stdout + h.stderr))
            try await Task.sleep(for: .milliseconds(500))
        }
        rescue.cancel()
        // At least 8 s frozen in all (longer when the machine made the asking slow).
        let stillFrozen = ContinuousClock.now - frozenAt
        if stillFrozen < .seconds(8) { try await Task.sleep(for: .seconds(8) - stillFrozen) }
        pg.thaw(frozen)
        let frozenFor = ContinuousClock.now - frozenAt
        frozen = []
        print("frozen for \(frozenFor); health during the freeze: \(answers.map { "\($0.0) (exit \($0.1))" })")

        // Every answer came while the server was still frozen (its SIGCONT came after the last),
        // and said so: exit 2, unresponsive since an instant, the last counts with their time.
        for (_, status, text) in answers {
            #expect(status == 2 && text.contains("database unresponsive since") && text.contains("as of "), "\(text)")
        }
        #expect(n.lines.contains { $0.hasPrefix("STATUS=") && $0.contains("database UNRESPONSIVE since") }, "\(n.lines.filter { $0.hasPrefix("STATUS=") })")
        // The watchdog kept pinging: a frozen database is not a hung coordinator.
        #expect(n.all.filter { $0.at > frozenAt && $0.at < frozenAt + frozenFor && $0.text.contains("WATCHDOG=1") }.count >= 8)

        // After the thaw every job ends, each called once: nothing lost, nothing doubled.
        let drained = try await scene.eventually(
            "SELECT count(*) = \(jobs) FROM campaign.campaign_jobs WHERE status = 'COMPLETED'", within: .seconds(120))
        #expect(drained, "not drained after the thaw:\n\(scene.logs())")
        let dials = scene.dials()
        #expect(dials.count == jobs && dials.values.allSatisfy { $0 == 1 }, "\(dials.count) keys, max \(dials.values.max() ?? 0)")
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.call_logs") == "\(jobs)")
        #expect(try scene.db.scalar("SELECT count(DISTINCT job_id) FROM campaign.call_logs WHERE outcome = 'ANSWERED'") == "\(jobs)")
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE outcome_unknown") == "0")
        let retried = scene.processes.filter { $0.name.hasPrefix("f") }.map {
            $0.log().components(separatedBy: "report not delivered yet, retrying").count - 1
        }
        print("reports retried during the freeze, by agent: \(retried)")
        #expect(retried.reduce(0, +) >= 1, "no report met the frozen database:\n\(scene.logs())")
        let log = coordinator.log()
        #expect(log.contains("database unresponsive") && log.contains("database reachable again"), "\(log.suffix(3000))")
        #expect(coordinator.isRunning)
        _ = await scene.tearDown()
    }
}
