import CampaignProtocol
@testable import CampaignRPC
import CampaignTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

fileprivate enum CapEcho: RPCMethod {
    static let name = "test.capEcho"
    static let requiredRole = AccessRole.reader
    typealias Params = NoParams
    typealias Result = Int
}

@Suite("Connection cap")
struct ConnectionCapTests {
    typealias Entry = ConnectionCap.Entry

    @Test("below the cap everybody comes in; at it the oldest silent one goes, whoever arrives")
    func silentOnesGoFirst() {
        let cap = ConnectionCap(limit: 3)
        let talkers = [Entry(id: 1, spoke: true, privileged: true), Entry(id: 2, spoke: true, privileged: false)]
        #expect(cap.decide(open: talkers, newcomerPrivileged: false) == .admit)
        let full = talkers + [Entry(id: 7, spoke: false, privileged: true), Entry(id: 5, spoke: false, privileged: false)]
        // Over the cap too (a lowered limit): still the oldest silent one, by id, not by position.
        #expect(cap.decide(open: full, newcomerPrivileged: false) == .displace(5))
        #expect(cap.decide(open: full, newcomerPrivileged: true) == .displace(5))
    }

    @Test("with every connection talking, a privileged newcomer displaces the oldest reader; a reader is refused")
    func readersGiveWayToAdminsAndAgents() {
        let cap = ConnectionCap(limit: 3)
        let open = [
            Entry(id: 4, spoke: true, privileged: false), Entry(id: 2, spoke: true, privileged: true),
            Entry(id: 3, spoke: true, privileged: false),
        ]
        #expect(cap.decide(open: open, newcomerPrivileged: true) == .displace(3))
        #expect(cap.decide(open: open, newcomerPrivileged: false) == .refuse)
        // All of the cap admins and agents that talk: nobody gives way, whoever comes.
        let operators = open.map { Entry(id: $0.id, spoke: true, privileged: true) }
        #expect(cap.decide(open: operators, newcomerPrivileged: true) == .refuse)
        #expect(cap.decide(open: operators, newcomerPrivileged: false) == .refuse)
    }

    /// Every combination of up to four connections (spoke × privileged each) and the newcomer,
    /// against the rules written out one by one.
    @Test func everySmallTableFollowsTheRules() {
        for limit in 1...4 {
            let cap = ConnectionCap(limit: limit)
            for count in 0...4 {
                for bits in 0..<(1 << (2 * count)) {
                    let open = (0..<count).map { i in
                        Entry(id: UInt64(10 - i), spoke: bits >> (2 * i) & 1 == 1, privileged: bits >> (2 * i + 1) & 1 == 1)
                    }
                    for newcomer in [false, true] {
                        let decision = cap.decide(open: open, newcomerPrivileged: newcomer)
                        let silent = open.filter { !$0.spoke }.map(\.id).min()
                        let reader = open.filter { !$0.privileged }.map(\.id).min()
                        let expected: ConnectionCap.Decision =
                            count < limit ? .admit
                            : silent.map { .displace($0) } ?? (newcomer ? reader.map { .displace($0) } : nil) ?? .refuse
                        #expect(decision == expected, "limit \(limit), \(open), newcomer privileged \(newcomer)")
                        // Never a privileged connection that talks.
                        if case .displace(let id) = decision, let victim = open.first(where: { $0.id == id }) {
                            #expect(!(victim.spoke && victim.privileged))
                        }
                    }
                }
            }
        }
    }

    /// Sends one request and waits for its answer (nil: the connection closed first).
    static func ask(_ socket: NonBlockingSocket, id: Int) async throws -> String? {
        _ = try socket.trySend(ArraySlice((#"{"jsonrpc":"2.0","id":\#(id),"method":"test.capEcho"}"# + "\n").utf8))
        var text = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard let bytes = try socket.tryReceive() else { return nil }
            text += String(decoding: bytes, as: UTF8.self)
            if text.contains("\n") { return text }
            try await Task.sleep(for: .milliseconds(10))
        }
        return text
    }

    static func isClosed(_ socket: NonBlockingSocket) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard try socket.tryReceive() != nil else { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// The real server with a cap of 3: a silent connection gives way first, then a reader to an
    /// admin, and a reader arriving at a cap of talkers gets one LIMIT_EXCEEDED line.
    @Test func theServerAppliesThePolicy() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cap-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("s.sock").path
        // Whether the next connection is privileged (all of them are this test's uid).
        let privileged = NIOLockedValueBox(false)
        var configuration = RPCServer.Configuration(listen: .path(path))
        configuration.maximumConnections = 3
        configuration.isPrivileged = { _ in privileged.withLockedValue { $0 } }
        let router = RPCRouter()
        router.register(CapEcho.self) { _, _ in 7 }
        let server = RPCServer(configuration: configuration, router: router, logger: Logger(label: "cap"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run() }
            try await server.waitUntilListening()

            let reader1 = try NonBlockingSocket(path: path)
            #expect(try await Self.ask(reader1, id: 1)?.contains(#""result":7"#) == true)
            let silent = try NonBlockingSocket(path: path)
            let reader2 = try NonBlockingSocket(path: path)
            #expect(try await Self.ask(reader2, id: 2)?.contains(#""result":7"#) == true)
            #expect(server.openConnections == 3)

            // A reader at the cap: the silent connection goes.
            let reader3 = try NonBlockingSocket(path: path)
            #expect(try await Self.ask(reader3, id: 3)?.contains(#""result":7"#) == true)
            #expect(try await Self.isClosed(silent), "the silent connection was kept")

            // Another reader: all three talk, it is refused with one error line.
            let refused = try NonBlockingSocket(path: path)
            let answer = try await Self.ask(refused, id: 4) ?? ""
            #expect(answer.contains("LIMIT_EXCEEDED") && answer.contains(#""limit":"connections""#), "\(answer)")
            #expect(try await Self.isClosed(refused))

            // An admin: the oldest reader goes, the admin is served, the others too.
            privileged.withLockedValue { $0 = true }
            let admin = try NonBlockingSocket(path: path)
            #expect(try await Self.ask(admin, id: 5)?.contains(#""result":7"#) == true)
            #expect(try await Self.isClosed(reader1), "the oldest reader was kept")
            #expect(try await Self.ask(reader2, id: 6)?.contains(#""result":7"#) == true)
            #expect(try await Self.ask(reader3, id: 7)?.contains(#""result":7"#) == true)
            #expect(server.openConnections == 3)
            group.cancelAll()
        }
    }
}
