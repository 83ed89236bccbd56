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
///
/// Every borrow has a deadline (``Configuration/timeout``, or ``Configuration/longTimeout`` for
/// calls that are long by nature): waiting for a connection and every round trip end there with
/// ``StoreError/Code/timedOut``, so a database that stops answering costs a request its deadline,
/// not forever.
public final class DatabasePool: Sendable {
    public struct Configuration: Sendable {
        /// A libpq connection string or URI.
        public var url: String
        /// How many connections (and threads) at most.
        public var size: Int
        /// How long one call may take in all, waiting for a connection included (nil: no limit).
        public var timeout: Duration?
        /// The same for calls that are long by nature: an automation run over every customer,
        /// bringing the law's rules up to date at start.
        public var longTimeout: Duration?
        public init(url: String, size: Int = 4, timeout: Duration? = .seconds(10), longTimeout: Duration? = .seconds(300)) {
            self.url = url
            self.size = size
            self.timeout = timeout
            self.longTimeout = longTimeout
        }
    }

    /// Which deadline a call gets.
    public enum Limit: Sendable {
        /// ``Configuration/timeout``: requests, maintenance duties.
        case standard
        /// ``Configuration/longTimeout``.
        case long
        /// None: the migrations at start (DDL on a big table may take what it takes).
        case unbounded
    }

    private typealias Waiter = (
        deadline: ContinuousClock.Instant?, continuation: CheckedContinuation<PQConnection?, any Error>
    )

    private struct State {
        var idle: [PQConnection] = []
        var open = 0
        var waiters: [Waiter] = []
        /// True while the task that fails waiters past their deadline runs (only while some wait).
        var reaping = false
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
    public func withConnection<T: Sendable>(
        limit: Limit = .standard, _ body: @escaping @Sendable (PQConnection) throws -> T
    ) async throws -> T {
        let deadline = self.deadline(limit)
        let existing = try await self.acquire(deadline: deadline)
        do {
            let (conn, value) = try await self.threadPool.runIfActive { () throws -> (PQConnection, T) in
                let conn = try existing ?? PQConnection(url: self.configuration.url, deadline: deadline)
                conn.deadline = deadline
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
        attempts: Int = 4, limit: Limit = .standard, _ body: @escaping @Sendable (PQConnection) throws -> T
    ) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await self.withConnection(limit: limit) { conn in try conn.transaction { try body(conn) } }
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
        let waiters = self.state.withLockedValue { state -> [Waiter] in
            state.closed = true
            state.idle.removeAll()
            let w = state.waiters
            state.waiters.removeAll()
            return w
        }
        for w in waiters { w.continuation.resume(throwing: StoreError(.poolClosed, "database pool closed")) }
        try? await self.threadPool.shutdownGracefully()
    }

    private func deadline(_ limit: Limit) -> ContinuousClock.Instant? {
        let timeout: Duration?
        switch limit {
        case .standard: timeout = self.configuration.timeout
        case .long: timeout = self.configuration.longTimeout
        case .unbounded: timeout = nil
        }
        return timeout.map { ContinuousClock.now + $0 }
    }

    private enum Take { case give(PQConnection?), fail, wait }

    /// Under the lock: an idle connection, the right to open one (`nil`), or nothing free.
    private func take(_ state: inout State) -> Take {
        if state.closed { return .fail }
        if let conn = state.idle.popLast() { return .give(conn) }
        if state.open < self.configuration.size {
            state.open += 1
            return .give(nil)
        }
        return .wait
    }

    /// Returns an idle connection, `nil` meaning "open a new one", or waits for a release until
    /// `deadline`.
    private func acquire(deadline: ContinuousClock.Instant?) async throws -> PQConnection? {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<PQConnection?, any Error>) in
            enum Next { case take(Take), late, reap }
            let next = self.state.withLockedValue { state -> Next in
                let take = self.take(&state)
                guard case .wait = take else { return .take(take) }
                if let deadline, ContinuousClock.now >= deadline { return .late }
                state.waiters.append((deadline, cont))
                guard deadline != nil, !state.reaping else { return .take(.wait) }
                state.reaping = true
                return .reap
            }
            switch next {
            case .take(.give(let conn)): cont.resume(returning: conn)
            case .take(.fail): cont.resume(throwing: StoreError(.poolClosed, "database pool closed"))
            case .take(.wait): break
            case .late: cont.resume(throwing: Self.noConnection)
            case .reap: Task { await self.reap() }
            }
        }
    }

    private static let noConnection = StoreError(
        .timedOut, "no database connection came free in time (every one is waiting on the database)")

    /// Fails the waiters whose deadline passed, as long as any waits: one task for all of them
    /// (not a timer per wait, which costs more than the wait itself when the pool is busy).
    private func reap() async {
        while true {
            let now = ContinuousClock.now
            let (late, next) = self.state.withLockedValue { state -> ([Waiter], ContinuousClock.Instant?) in
                var late: [Waiter] = []
                state.waiters.removeAll { w in
                    guard let d = w.deadline, d <= now else { return false }
                    late.append(w)
                    return true
                }
                let next = state.waiters.compactMap(\.deadline).min()
                if next == nil { state.reaping = false }
                return (late, next)
            }
            for w in late { w.continuation.resume(throwing: Self.noConnection) }
            guard let next else { return }
            // At most a second at a time: a waiter with an earlier deadline may come meanwhile.
            try? await Task.sleep(until: min(next, now + .seconds(1)), clock: .continuous)
        }
    }

    /// Gives a connection back (or, with `nil`, the slot of a connection that was dropped).
    private func release(_ conn: PQConnection?) {
        let waiter: Waiter? = self.state.withLockedValue { state in
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
        waiter?.continuation.resume(returning: conn)
    }
}

private struct BorrowError: Error, @unchecked Sendable {
    // `@unchecked Sendable`: carries the connection back to the pool from the one thread using it.
    let error: StoreError
    let connection: PQConnection
}
