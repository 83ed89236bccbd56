import CampaignAgentKit
import CampaignCore
import CampaignProtocol
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `exec` placer running real shell scripts.
@Suite("exec placer")
struct ExecPlacerTests {
    /// Writes `script` as an executable file in a fresh directory and runs `body` with its path.
    static func withScript<R>(_ script: String, _ body: (String, URL) async throws -> R) async throws -> R {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("exec-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("place-call").path
        // Written through a descriptor no child inherits (O_CLOEXEC). Once in a full run, running
        // the script failed with ETXTBSY ("Text file busy"): a descriptor open for writing (here
        // Foundation's atomic write, it seems) lived on in a process another test forked at that
        // moment.
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        let bytes = Array(("#!/bin/sh\n" + script).utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count else { throw POSIXError(.EIO) }
        return try await body(path, dir)
    }

    static func place(_ path: String, arguments: [String] = [], within: Duration = .seconds(30)) async -> PlacedCall {
        await ExecPlacer(configuration: .init(command: path, arguments: arguments))
            .place(HTTPPlacerTests.request(within: within))
    }

    @Test("a command that reports an outcome; the request arrives on stdin and in the environment")
    func success() async throws {
        try await Self.withScript(
            """
            cat > "$1/request.json"
            printf '%s' "$CAMPAIGN_IDEMPOTENCY_KEY" > "$1/key"
            echo "placing" >&2
            echo '{"outcome":"VOICEMAIL","providerCallId":"x-1","durationMs":42,"detail":{"note":"left a message"}}'
            """
        ) { path, dir in
            let placed = await Self.place(path, arguments: [dir.path])
            #expect(placed.outcome == .voicemail)
            #expect(placed.outcomeKnown)
            #expect(placed.providerCallId == "x-1")
            #expect(placed.durationMs == 42)
            #expect(placed.detail == ["note": "left a message"])
            let request = try Data(contentsOf: dir.appendingPathComponent("request.json"))
            let object = try #require(try JSONSerialization.jsonObject(with: request) as? [String: Any])
            #expect(object["idempotencyKey"] as? String == "q-1:2026-11-29#1")
            #expect((object["customer"] as? [String: Any])?["phone"] as? String == "+14155550100")
            #expect(try String(contentsOf: dir.appendingPathComponent("key"), encoding: .utf8) == "q-1:2026-11-29#1")
        }
    }

    @Test("a command that reports the person asked not to be called again")
    func optOut() async throws {
        try await Self.withScript("echo '{\"outcome\":\"ANSWERED\",\"optOut\":true}'\n") { path, _ in
            let placed = await Self.place(path)
            #expect(placed.outcome == .answered && placed.optOut)
        }
        try await Self.withScript("echo '{\"outcome\":\"ANSWERED\",\"optOut\":\"yes\"}'\n") { path, _ in
            #expect(!(await Self.place(path)).optOut, "only true is an opt-out")
        }
    }

    @Test("a non-zero exit: no call was placed, FAILED with the status and stderr")
    func failure() async throws {
        try await Self.withScript("echo 'provider said no' >&2\nexit 3\n") { path, _ in
            let placed = await Self.place(path)
            #expect(placed.outcome == .failed)
            #expect(placed.outcomeKnown)
            #expect(placed.detail?["exitStatus"] == .int(3))
            #expect(placed.detail?["stderr"] == .string("provider said no\n"))
        }
    }

    @Test("garbage on stdout: the call may have happened, outcome unknown", arguments: [
        "echo 'hello there'", "echo '{\"outcome\":\"MAYBE\"}'", "echo '[1,2]'", "true",
        "head -c 200000 /dev/zero | tr '\\\\0' 'x'",
    ])
    func garbage(_ script: String) async throws {
        try await Self.withScript(script + "\n") { path, _ in
            let placed = await Self.place(path)
            #expect(placed.outcome == .failed)
            #expect(!placed.outcomeKnown)
        }
    }

    @Test("killed by a signal: outcome unknown")
    func signalled() async throws {
        try await Self.withScript("kill -9 $$\n") { path, _ in
            let placed = await Self.place(path)
            #expect(!placed.outcomeKnown)
            #expect(placed.detail?["signal"] == .int(9))
        }
    }

    @Test("a command that hangs is killed at the limit with its children")
    func hangs() async throws {
        try await Self.withScript(
            """
            sleep 300 &
            echo $! > "$1/child.pid"
            sh -c 'sleep 300' &
            echo $! > "$1/child2.pid"
            sleep 300
            """
        ) { path, dir in
            let started = ContinuousClock.now
            let placed = await Self.place(path, arguments: [dir.path], within: .seconds(1))
            let took = ContinuousClock.now - started
            #expect(took < .seconds(60), "waited for the command (it sleeps 300 s) instead of killing it at the 1 s limit: took \(took)")
            #expect(!placed.outcomeKnown)
            for file in ["child.pid", "child2.pid"] {
                let text = try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
                let pid = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
                #expect(await Self.gone(pid), "child \(pid) outlived the limit")
            }
        }
    }

    @Test("a command that cannot be started: no call")
    func missingCommand() async throws {
        let placed = await Self.place("/nonexistent/place-call")
        #expect(placed.outcome == .failed)
        #expect(placed.outcomeKnown)
    }

    /// True once `pid` no longer runs (gone, or a zombie waiting for a reaper).
    static func gone(_ pid: pid_t) async -> Bool {
        for _ in 0..<100 {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
            if let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "Z" { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
