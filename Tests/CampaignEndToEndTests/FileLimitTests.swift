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
}
