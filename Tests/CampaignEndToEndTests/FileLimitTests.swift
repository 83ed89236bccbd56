import CampaignRPC
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Both daemons raise their soft limit of open files to the hard one at start (issue 17), the
/// real binaries started under a soft limit of 256 as a shell's `ulimit -Sn` leaves it.
@Suite("File limits")
struct FileLimitTests {
    /// The soft and hard "Max open files" of a process, from `/proc/<pid>/limits`.
    static func openFiles(_ pid: Int32) -> (soft: String, hard: String)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") })
        else { return nil }
        let fields = line.dropFirst("Max open files".count).split(separator: " ")
        return fields.count >= 2 ? (String(fields[0]), String(fields[1])) : nil
    }

    @Test("the target: the hard limit, at most the ceiling, never lower than the soft one")
    func target() {
        #expect(FileLimit.target(for: .init(soft: 1024, hard: 524_288)) == 524_288)
        #expect(FileLimit.target(for: .init(soft: 1024, hard: 1024)) == 1024)
        #expect(FileLimit.target(for: .init(soft: 1024, hard: 1 << 30)) == FileLimit.ceiling)
        #expect(FileLimit.target(for: .init(soft: 1 << 21, hard: 1 << 30)) == 1 << 21)
    }

    @Test func theCoordinatorAndAnAgentRaiseTheirSoftLimitToTheHardOne() async throws {
        let hard = try #require(FileLimit.current()).hard
        try #require(hard > 256, "this machine's hard limit leaves nothing to raise")
        let scene = try await Scene("file-limits")
        let bin = try ManagedProcess.binDirectory()
        // `exec` keeps the pid: the daemon itself starts with the lowered soft limit.
        let lowered = ["-c", #"ulimit -Sn 256 && exec "$0" "$@""#]
        let coordinator = try ManagedProcess(
            "/bin/sh",
            lowered + [
                bin.appendingPathComponent("campaign-coordinator").path, "--socket", scene.socket, "--database-url",
                scene.db.url,
            ], logDir: scene.dir, name: "c-lowered")
        scene.processes.append(coordinator)
        try await scene.waitForSocket()
        let agent = try ManagedProcess(
            "/bin/sh", lowered + [bin.appendingPathComponent("campaign-agent").path, "--id", "a1", "--capacity", "2"],
            environment: ["CAMPAIGN_SOCKET": scene.socket], logDir: scene.dir, name: "a-lowered")
        scene.processes.append(agent)
        let expected = String(min(hard, FileLimit.ceiling))
        for (name, p) in [("coordinator", coordinator), ("agent", agent)] {
            var seen: (soft: String, hard: String)?
            for _ in 0..<100 {
                seen = Self.openFiles(p.pid)
                if seen?.soft == expected && p.log().contains("limit of open files raised") { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(seen?.soft == expected, "\(name): \(String(describing: seen)), wanted \(expected)\n\(scene.logs())")
            #expect(p.log().contains("limit of open files raised"), "\(name) says so")
        }
        _ = await scene.tearDown()
    }

    /// utime + stime of a process, in clock ticks (`/proc/<pid>/stat`).
    static func cpuTicks(_ pid: Int32) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command: state is field 3, utime 14 and stime 15 (1-based over the whole line).
        guard fields.count > 13, let u = Int(fields[11]), let s = Int(fields[12]) else { return nil }
        return u + s
    }

    @Test func outOfDescriptorsTheCoordinatorLogsOncePerIntervalDoesNotSpinAndRecovers() async throws {
        let scene = try await Scene("file-flood")
        let bin = try ManagedProcess.binDirectory()
        // Soft and hard 96: nothing to raise, and a flood of 200 connections runs it out (the
        // cap set above the limit, as a misconfigured one would be: this is the backstop).
        let coordinator = try ManagedProcess(
            "/bin/sh",
            ["-c", #"ulimit -n 96 && exec "$0" "$@""#, bin.appendingPathComponent("campaign-coordinator").path,
             "--socket", scene.socket, "--database-url", scene.db.url, "--max-connections", "1000"],
            logDir: scene.dir, name: "c-96")
        scene.processes.append(coordinator)
        try await scene.waitForSocket()
        #expect(try await scene.ctl(["health"]).status == 0)

        let before = try #require(Self.cpuTicks(coordinator.pid))
        var flood: [NonBlockingSocket] = []
        for _ in 0..<200 { flood.append(try NonBlockingSocket(path: scene.socket)) }  // the kernel's backlog takes them all
        try await Task.sleep(for: .seconds(3))
        let ticks = try #require(Self.cpuTicks(coordinator.pid)) - before
        let hz = Int(sysconf(Int32(_SC_CLK_TCK)))
        // Spinning on accept would burn about the whole 3 s; backing off costs next to nothing.
        #expect(ticks < 3 * hz / 2, "the coordinator used \(ticks) ticks of CPU in 3 s of flood (\(hz)/s):\n\(coordinator.log().suffix(3000))")
        let lines = coordinator.log().components(separatedBy: "out of file descriptors").count - 1
        #expect(lines >= 1 && lines <= 2, "logged \(lines) times in 3 s:\n\(coordinator.log().suffix(2000))")
        #expect(coordinator.isRunning)

        flood.removeAll()  // the clients go: the coordinator serves again
        var answered = false
        for _ in 0..<20 where !answered {
            answered = try await scene.ctl(["health"]).status == 0
            if !answered { try await Task.sleep(for: .milliseconds(500)) }
        }
        #expect(answered, "health after the flood:\n\(coordinator.log().suffix(2000))")
        _ = await scene.tearDown()
    }
}

