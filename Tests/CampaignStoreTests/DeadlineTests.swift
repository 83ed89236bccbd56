@testable import CampaignStore
import CampaignTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every database call ends at its deadline (issue 17): a server that stops answering costs a
/// call its deadline, not forever, and the pool works again once the server answers.
@Suite("Database deadlines")
struct DeadlineTests {
    /// A Unix socket that takes connections (the kernel's backlog) and never answers: what a
    /// frozen postmaster looks like. Answers its directory and port.
    final class SilentServer: @unchecked Sendable {
        let dir: String
        let port = 5999
        private let fd: Int32

        init() throws {
            self.dir = FileManager.default.temporaryDirectory.appendingPathComponent("silent-\(UUID().uuidString.prefix(8))").path
            try FileManager.default.createDirectory(atPath: self.dir, withIntermediateDirectories: true)
            self.fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let path = "\(self.dir)/.s.PGSQL.\(self.port)"
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                raw.copyBytes(from: Array(path.utf8) + [0])
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(self.fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard bound == 0, listen(self.fd, 16) == 0 else { throw StoreError(.connectionFailed, "cannot listen at \(path)") }
        }

        var url: String { "postgresql://nobody@/nowhere?host=\(self.dir)&port=\(self.port)" }

        deinit {
            close(self.fd)
            try? FileManager.default.removeItem(atPath: self.dir)
        }
    }

    @Test func connectingToAServerThatNeverAnswersEndsAtTheDeadline() async throws {
        let server = try SilentServer()
        let started = ContinuousClock.now
        let error = await blocking { () -> StoreError? in
            do {
                _ = try PQConnection(url: server.url, deadline: .now + .milliseconds(300))
                return nil
            } catch {
                return error as? StoreError
            }
        }
        #expect(error?.code == .timedOut, "\(String(describing: error))")
        #expect(error?.isUnavailable == true)
        print("connect to a silent server: gave up after \(ContinuousClock.now - started)")

        // The pool says the same, for every call, each at its own deadline.
        let logger = Logger(label: "test")
        let pool = DatabasePool(configuration: .init(url: server.url, size: 1, timeout: .milliseconds(300)), logger: logger)
        defer { Task { await pool.shutdown() } }
        let store = PostgresJobStore(pool: pool, logger: logger)
        for _ in 0..<2 {
            await #expect {
                try await store.counts()
            } throws: { ($0 as? StoreError)?.code == .timedOut }
        }
    }

    /// The backend of the pool's one connection stopped (SIGSTOP) in the middle of the suite's
    /// running server: the call meets its deadline (a long one, 3 s), a call waiting for the
    /// connection meets its own (1 s) first, and once the backend goes on the pool serves again on a new connection while the
    /// abandoned backend ends.
    @Test func aFrozenBackendCostsACallItsDeadlineAndThePoolRecovers() async throws {
        let db = try await TestDatabase.create("frozenbackend")
        defer { db.drop() }
        let logger = Logger(label: "test")
        let pool = DatabasePool(
            configuration: .init(url: db.url, size: 1, timeout: .seconds(1), longTimeout: .seconds(3)), logger: logger)
        defer { Task { await pool.shutdown() } }
        let pid = try await pool.withConnection { conn in
            try conn.query(unsafeSQL: "SELECT pg_backend_pid()")[0, 0].flatMap { pid_t($0) } ?? 0
        }
        try #require(pid > 0)
        #expect(kill(pid, SIGSTOP) == 0)
        let thawed = NIOLockedValueBox(false)
        defer { if !thawed.withLockedValue({ $0 }) { kill(pid, SIGCONT) } }

        async let first: StoreError? = Self.failure {
            try await pool.withConnection(limit: .long) { try $0.query(unsafeSQL: "SELECT 1").count }
        }
        try await Task.sleep(for: .milliseconds(100))
        async let second: StoreError? = Self.failure { try await pool.withConnection { try $0.query(unsafeSQL: "SELECT 2").count } }
        let (a, b) = await (first, second)
        #expect(a?.code == .timedOut, "the frozen call: \(String(describing: a))")
        #expect(b?.code == .timedOut, "the call that waited for the connection: \(String(describing: b))")
        #expect(a?.message.contains("did not answer") == true && b?.message.contains("no database connection came free") == true)

        kill(pid, SIGCONT)
        thawed.withLockedValue { $0 = true }
        // A new connection: the frozen one was closed at its deadline.
        let again = try await pool.withConnection { conn in
            try conn.query(unsafeSQL: "SELECT pg_backend_pid()")[0, 0].flatMap { pid_t($0) } ?? 0
        }
        #expect(again > 0 && again != pid)
        // The abandoned backend sees its client gone and ends.
        var gone = false
        for _ in 0..<100 where !gone {
            gone = try db.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [String(pid)]) == "0"
            if !gone { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(gone, "backend \(pid) is still there")
    }

    static func failure(_ body: () async throws -> Int) async -> StoreError? {
        do {
            _ = try await body()
            return nil
        } catch {
            return error as? StoreError
        }
    }
}
