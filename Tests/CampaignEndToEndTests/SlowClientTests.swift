import CampaignTestSupport
import Foundation
import Testing

/// The coordinator closes connections that send nothing, or stall in the middle of a line, once
/// their timeout passes (issue 17); one that sent a complete request stays open however long it
/// is idle. The real binary, timeouts of 1 s.
@Suite("Slow clients")
struct SlowClientTests {
    /// Waits up to `within` for the server to close the connection; true when it did.
    static func closed(_ socket: NonBlockingSocket, within: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            guard try socket.tryReceive() != nil else { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    @Test func silentAndStalledConnectionsAreClosedAndAnIdleClientIsNot() async throws {
        let scene = try await Scene("slow-clients")
        try scene.coordinator(extra: ["--first-request-timeout", "1", "--stalled-line-timeout", "1"])
        try await scene.waitForSocket()

        let silent = try NonBlockingSocket(path: scene.socket)
        let stalled = try NonBlockingSocket(path: scene.socket)
        _ = try stalled.trySend(ArraySlice(#"{"jsonrpc":"2.0","id":1,"method":"hea"#.utf8))
        let talker = try NonBlockingSocket(path: scene.socket)
        _ = try talker.trySend(ArraySlice((#"{"jsonrpc":"2.0","id":1,"method":"health"}"# + "\n").utf8))

        #expect(try await Self.closed(silent, within: .seconds(10)), "a silent connection stays open")
        #expect(try await Self.closed(stalled, within: .seconds(10)), "a stalled half line stays open")
        // The one that asked: answered, then idle past both timeouts, still open and served.
        try await Task.sleep(for: .seconds(2))
        var answers = ""
        _ = try talker.trySend(ArraySlice((#"{"jsonrpc":"2.0","id":2,"method":"health"}"# + "\n").utf8))
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline && !answers.contains(#""id":2"#) {
            guard let bytes = try talker.tryReceive() else { break }
            answers += String(decoding: bytes, as: UTF8.self)
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(answers.contains(#""id":1"#) && answers.contains(#""id":2"#), "the idle client: \(answers)")
        _ = await scene.tearDown()
    }
}
