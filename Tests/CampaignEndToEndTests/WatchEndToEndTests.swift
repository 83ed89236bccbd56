import CampaignCore
import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `campaign-ctl watch` against real processes (issue 14): on a terminal (tmux, 80×24, read back
/// with capture-pane) while a campaign drains, through a coordinator restart, until `q`; and
/// without a terminal, one line per second until drained.
@Suite("Watch end to end", .serialized)
struct WatchEndToEndTests {
    /// A tmux server of the test's own (its socket in the scene's directory).
    struct Tmux {
        let socket: String

        /// Runs tmux with `args`; its output. (posix_spawn and waitpid, not `Process`: the server
        /// that `new-session` forks keeps the descriptors it inherits, and `Process` would wait
        /// for them to close; the output goes to a file for the same reason.)
        @discardableResult
        func run(_ args: [String]) throws -> String {
            let outPath = self.socket + ".out-\(UUID().uuidString.prefix(8))"
            defer { try? FileManager.default.removeItem(atPath: outPath) }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
            let argv = (["tmux", "-S", self.socket] + args).map { strdup($0) } + [nil]
            defer { for a in argv { free(a) } }
            var pid = pid_t()
            let spawned = posix_spawn(&pid, "/usr/bin/tmux", &actions, nil, argv, environ)
            guard spawned == 0 else { throw Failure(description: "cannot start /usr/bin/tmux: errno \(spawned)") }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
            // WIFEXITED && WEXITSTATUS == 0
            guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
                throw Failure(description: "tmux \(args.joined(separator: " ")) (status \(status)): \(text)")
            }
            return text
        }

        /// The screen, as lines (with `escapes`: the colours' SGR sequences kept).
        func screen(escapes: Bool = false) throws -> [String] {
            try self.run(["capture-pane", "-p", "-t", "w"] + (escapes ? ["-e"] : [])).components(separatedBy: "\n").dropLast()
                .map { $0 }
        }

        /// Waits (up to `within`) for a screen `until` accepts; the last one seen, if none did.
        func screen(within: Duration, until: ([String]) -> Bool) async throws -> (ok: Bool, lines: [String]) {
            let deadline = ContinuousClock.now + within
            var lines: [String] = []
            while ContinuousClock.now < deadline {
                lines = try self.screen()
                if until(lines) { return (true, lines) }
                try await Task.sleep(for: .milliseconds(100))
            }
            return (false, lines)
        }

        func kill() { _ = try? self.run(["kill-server"]) }
    }

    struct Failure: Error, CustomStringConvertible { var description: String }

    /// The numbers of the `default` row: QUEUED, ACTIVE, DIAL, COMPLETED, FAILED, SKIPPED, CALLS/M.
    static func row(_ lines: [String], _ campaign: String = "default") -> [Int]? {
        guard let line = lines.first(where: { $0.hasPrefix(campaign + " ") }) else { return nil }
        let fields = line.split(separator: " ").map(String.init)
        guard fields.count >= 9 else { return nil }
        return fields[2...8].compactMap { Int($0) }
    }

    /// `KEY n` pairs of the campaign's line under OUTCOMES.
    static func outcomes(_ lines: [String], _ campaign: String = "default") -> [String: Int] {
        guard let start = lines.firstIndex(where: { $0.hasPrefix("OUTCOMES") }),
            let line = lines[start...].first(where: { $0.hasPrefix("  \(campaign) ") })
        else { return [:] }
        let words = line.split(separator: " ").dropFirst().map(String.init)
        var out: [String: Int] = [:]
        var i = 0
        while i + 1 < words.count {
            if let n = Int(words[i + 1]) { out[words[i]] = n }
            i += 2
        }
        return out
    }

    @Test func onATerminalItShowsTheCampaignDrainingRidesOutARestartAndQuitsOnQ() async throws {
        let scene = try await Scene("watch-tty")
        let jobs = 400
        try await scene.startWithJobs(jobs, settings: ["retryBaseMs=100", "retryCapMs=500"])
        let tmux = Tmux(socket: scene.dir.appendingPathComponent("tmux.sock").path)
        defer { tmux.kill() }
        let ctl = try ManagedProcess.binDirectory().appendingPathComponent("campaign-ctl").path
        try tmux.run([
            "new-session", "-d", "-s", "w", "-x", "80", "-y", "24",
            "env -u NO_COLOR CAMPAIGN_SOCKET='\(scene.socket)' TERM=xterm-256color '\(ctl)' watch; echo WATCH-EXIT $?; sleep 60",
        ])

        // Before any agent: every job QUEUED.
        let before = try await tmux.screen(within: .seconds(20)) { Self.row($0)?.first == jobs }
        #expect(before.ok, "\(before.lines.joined(separator: "\n"))")
        #expect(before.lines.count == 24)
        #expect(before.lines.allSatisfy { $0.count <= 80 })

        let outcomes = ["--sim-outcomes", "ANSWERED=6,NO_ANSWER=3,BUSY=1", "--sim-duration-ms", "40-120"]
        try scene.agent("w1", arguments: ["--capacity", "6", "--seed", "1"] + outcomes)
        try scene.agent("w2", arguments: ["--capacity", "6", "--seed", "2"] + outcomes)

        // Draining: seen part done, then all done.
        let midway = try await tmux.screen(within: .seconds(60)) { lines in
            guard let r = Self.row(lines), r.count == 7 else { return false }
            return r[3] + r[4] > 0 && r[0] + r[1] > 0 && r[6] > 0  // some finished, some left, calls per minute
        }
        #expect(midway.ok, "never saw the campaign part way: \(midway.lines.joined(separator: "\n"))")
        let done = try await tmux.screen(within: .seconds(120)) { lines in
            guard let r = Self.row(lines), r.count == 7 else { return false }
            return r[0] == 0 && r[1] == 0 && r[3] + r[4] + r[5] == jobs
        }
        #expect(done.ok, "never saw the campaign drained: \(done.lines.joined(separator: "\n"))\n\(scene.logs())")

        // The outcomes the screen counted from events are the call logs', exactly (the watch
        // began before the first call). Waited for: the last events may come after the reading.
        let logged = try Dictionary(uniqueKeysWithValues: scene.db.connect().query(unsafeSQL:
            "SELECT outcome, count(*) AS n FROM campaign.call_logs GROUP BY 1").all.map {
                (try $0.string("outcome"), try $0.int("n"))
            })
        let counted = try await tmux.screen(within: .seconds(10)) { Self.outcomes($0) == logged }
        #expect(counted.ok, "outcomes on screen \(Self.outcomes(counted.lines)), call logs \(logged): \(counted.lines.joined(separator: "\n"))")
        // And it has every event the database numbered.
        let head = try #require(try scene.db.scalar("SELECT last_seq FROM campaign.job_event_stream").flatMap { Int($0) })
        let caughtUp = try await tmux.screen(within: .seconds(10)) { $0.last?.contains("last #\(head)") == true }
        #expect(caughtUp.ok, "head \(head): \(caughtUp.lines.last ?? "")")
        let screen = counted.lines.joined(separator: "\n")
        for needle in ["leader", "database up", "2 agent(s)", "AGENTS 2 on this coordinator", "w1", "w2", "q quits"] {
            #expect(screen.contains(needle), "no \(needle) on the screen")
        }
        // Colours: an ACTIVE campaign is green.
        let coloured = try tmux.screen(escapes: true).joined(separator: "\n")
        #expect(coloured.contains("\u{1B}[32mACTIVE"), "\(coloured.replacingOccurrences(of: "\u{1B}", with: "^[").prefix(1500))")

        // The coordinator goes away and comes back: said on the title bar, then read again.
        let coordinator = try #require(scene.processes.first { $0.name.hasPrefix("c-") })
        _ = await coordinator.stop()
        let lost = try await tmux.screen(within: .seconds(20)) { $0.first?.contains("unreachable") == true }
        #expect(lost.ok, "\(lost.lines.first ?? "")")
        #expect(Self.row(lost.lines)?.first == 0, "the last reading stays on the screen")
        scene.try_coordinator()
        let back = try await tmux.screen(within: .seconds(30)) { $0.first?.contains("database up") == true }
        #expect(back.ok, "\(back.lines.first ?? "")")

        // q: the alternate screen is left, the last state printed, exit status 0.
        try tmux.run(["send-keys", "-t", "w", "q"])
        let quit = try await tmux.screen(within: .seconds(10)) { $0.contains("WATCH-EXIT 0") }
        #expect(quit.ok, "\(quit.lines.joined(separator: "\n"))")
        #expect(quit.lines.contains { $0.contains("queued 0 active 0") }, "\(quit.lines.joined(separator: "\n"))")
        #expect(!quit.lines.contains { $0.hasPrefix("CAMPAIGN ") }, "the full screen was left")

        // NO_COLOR: the same screen without a colour. (The pane's command is replaced in place: a
        // new session after killing the only one raced with the exiting server.)
        try tmux.run([
            "respawn-pane", "-k", "-t", "w",
            "env NO_COLOR=1 CAMPAIGN_SOCKET='\(scene.socket)' TERM=xterm-256color '\(ctl)' watch; echo NO-COLOR-WATCH-EXIT $?; sleep 60",
        ])
        let plain = try await tmux.screen(within: .seconds(20)) { Self.row($0) != nil }
        #expect(plain.ok)
        let escaped = try tmux.screen(escapes: true).joined()
        #expect(!escaped.contains("\u{1B}[3"), "a colour with NO_COLOR: \(escaped.prefix(300))")
        try tmux.run(["send-keys", "-t", "w", "q"])
        #expect(try await tmux.screen(within: .seconds(10)) { $0.contains("NO-COLOR-WATCH-EXIT 0") }.ok)
        _ = await scene.tearDown()
    }

    @Test func withoutATerminalItPrintsALineASecondAndExitsWhenDrained() async throws {
        let scene = try await Scene("watch-lines")
        let jobs = 300
        try await scene.startWithJobs(jobs)
        let outcomes = ["--sim-outcomes", "ANSWERED=1", "--sim-duration-ms", "100-300"]
        try scene.agent("l1", arguments: ["--capacity", "10", "--seed", "1"] + outcomes)
        let started = ContinuousClock.now
        let watch = try await scene.ctl(["watch", "--exit-when-drained"])
        let elapsed = ContinuousClock.now - started
        #expect(watch.status == 0, "\(watch.stderr)")
        #expect(!watch.stdout.contains("\u{1B}"), "no escapes without a terminal")
        let lines = watch.stdout.split(separator: "\n").map(String.init)
        // One a second (a little more or less on a busy machine), and the drained state last.
        let seconds = Int(elapsed.components.seconds)
        #expect(lines.count >= seconds / 2 && lines.count <= seconds + 3, "\(lines.count) lines in \(elapsed)")
        #expect(lines.allSatisfy { $0.range(of: #"^\d\d:\d\d:\d\d "#, options: .regularExpression) != nil }, "\(lines.prefix(3))")
        #expect(lines.last?.contains("queued 0 active 0 dialing 0 completed \(jobs) failed 0 skipped 0") == true, "\(lines.suffix(2))")
        #expect(lines.dropLast().contains { $0.contains("calls/min") && !$0.contains(" 0 calls/min") }, "a rate while calls ran")
        let pending = try scene.db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE')")
        #expect(pending == "0")

        // --json: drained already, so one object, with the database's counts.
        let json = try await scene.ctl(["watch", "--json", "--exit-when-drained"])
        #expect(json.status == 0, "\(json.stderr)")
        let objects = json.stdout.split(separator: "\n")
        let last = try #require(objects.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] })
        #expect((last["queue"] as? [String: Int])?["COMPLETED"] == jobs, "\(json.stdout)")
        #expect((last["campaigns"] as? [[String: Any]])?.first?["name"] as? String == "default")
        #expect(last["database"] as? String == "up")

        // Nobody listening: it says so each second and keeps trying (here: until stopped).
        let gone = try ManagedProcess(
            "campaign-ctl", ["watch"], environment: ["CAMPAIGN_SOCKET": scene.dir.appendingPathComponent("none.sock").path],
            logDir: scene.dir, name: "watch-gone")
        try await Task.sleep(for: .seconds(2.5))
        let status = await gone.stop()
        #expect(status == 0, "SIGTERM ends the watch cleanly")
        let out = gone.log()
        #expect(out.contains("coordinator unreachable"), "\(out)")
        _ = await scene.tearDown()
    }
}
