import Logging
import NIOConcurrencyHelpers
import NIOPosix

/// A small pool of libpq connections whose blocking calls run on a dedicated `NIOThreadPool`,
/// never on Swift's cooperative pool.
///
/// Connections are opened lazily and re-opened when they broke (the server restarted, the
/// network dropped): a borrower that finds its connection unhealthy reconnects before use, and a
/// failure to reconnect surfaces as ``StoreError/Code/connectionFailed``. Nobody waits for a
/// connection while holding one.
public final class DatabasePool: Sendable {
    public struct Configuration: Sendable {
        /// A libpq connection string or URI.
        public var url: String
        /// How many connections (and threads) at most.
        public var size: Int
        public init(url: String, size: Int = 4) {
            self.url = url
            self.size = size
        }
    }

    private struct State {
        var idle: [PQConnection] = []
        var open = 0
        var waiters: [CheckedContinuation<PQConnection?, any Error>] = []
        var closed = false
    }

    private let configuration: Configuration
    private let threadPool: NIOThreadPool
    private let state = NIOLockedValueBox(State())
    private let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.threadPool = NIOThreadPool(numberOfThreads: max(1, configuration.size))
        self.threadPool.start()
        self.logger = logger
    }

    /// Borrows a connection and runs `body` with it on a pool thread.
    ///
    /// A broken connection is re-opened first. If `body` throws because the connection broke,
    /// the connection is dropped and the next borrower opens a new one.
    @discardableResult
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PQConnection) throws -> T) async throws -> T {
        let existing = try await self.acquire()
        do {
            let (conn, value) = try await self.threadPool.runIfActive { () throws -> (PQConnection, T) in
                let conn = try existing ?? PQConnection(url: self.configuration.url)
                do {
                    try conn.ensureHealthy()
                    return (conn, try body(conn))
                } catch let error as StoreError where !error.isUnavailable {
                    // A statement error: the connection is fine, keep it.
                    throw BorrowError(error: error, connection: conn)
                }
            }
            self.release(conn)
            return value
        } catch let error as BorrowError {
            self.release(error.connection)
            throw error.error
        } catch {
            self.release(nil)
            throw error
        }
    }

    /// Runs `body` in a transaction on a pooled connection.
    ///
    /// A transaction that fails on a deadlock or serialization failure was rolled back whole, so
    /// it is run again (up to `attempts` times in all): `body` must have no effects outside the
    /// database.
    public func transaction<T: Sendable>(
        attempts: Int = 4, _ body: @escaping @Sendable (PQConnection) throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await self.withConnection { conn in try conn.transaction { try body(conn) } }
            } catch let error as StoreError where error.isTransient && attempt < attempts {
                self.logger.notice(
                    "transaction retried", metadata: ["sqlstate": "\(error.sqlState ?? "")", "attempt": "\(attempt)"])
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * attempt))))
            }
        }
    }

    /// Closes every connection and stops the threads. Waiting borrowers get ``StoreError/Code/poolClosed``.
    public func shutdown() async {
        let waiters = self.state.withLockedValue { state -> [CheckedContinuation<PQConnection?, any Error>] in
            state.closed = true
            state.idle.removeAll()
            let w = state.waiters
            state.waiters.removeAll()
            return w
        }
        for w in waiters { w.resume(throwing: StoreError(.poolClosed, "database pool closed")) }
        try? await self.threadPool.shutdownGracefully()
    }

    /// Returns an idle connection, `nil` meaning "open a new one", or waits for a release.
    private func acquire() async throws -> PQConnection? {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<PQConnection?, any Error>) in
            enum Next { case give(PQConnection?), fail, wait }
            let next: Next = self.state.withLockedValue { state in
                if state.closed { return .fail }
                if let conn = state.idle.popLast() { return .give(conn) }
                if state.open < self.configuration.size {
                    state.open += 1
                    return .give(nil)
                }
                state.waiters.append(cont)
                return .wait
            }
            switch next {
            case .give(let conn): cont.resume(returning: conn)
            case .fail: cont.resume(throwing: StoreError(.poolClosed, "database pool closed"))
            case .wait: break
            }
        }
    }

    /// Gives a connection back (or, with `nil`, the slot of a connection that was dropped).
    private func release(_ conn: PQConnection?) {
        let waiter: CheckedContinuation<PQConnection?, any Error>? = self.state.withLockedValue { state in
            if state.closed {
                state.open -= 1
                return nil
            }
            if !state.waiters.isEmpty {
                return state.waiters.removeFirst()  // hand the connection (or the slot) over directly
            }
            if let conn { state.idle.append(conn) } else { state.open -= 1 }
            return nil
        }
        waiter?.resume(returning: conn)
    }
}

private struct BorrowError: Error, @unchecked Sendable {
    // `@unchecked Sendable`: carries the connection back to the pool from the one thread using it.
    let error: StoreError
    let connection: PQConnection
}
