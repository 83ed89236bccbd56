import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A coordinator's one dedicated connection for coordination: it holds the maintenance
/// leader's advisory lock and listens for other coordinators' "jobs may be due" notifications.
///
/// `run` blocks its thread until `shouldStop` says so; call it from a dedicated thread. The lock
/// is a session lock, so when this process dies, PostgreSQL frees it at once and another
/// coordinator takes over at its next try (every `tick`).
public final class ControlConnection: Sendable {
    public struct Events: Sendable {
        /// Another coordinator announced jobs that may be due.
        public var jobsAvailable: @Sendable () -> Void
        /// This coordinator became (true) or stopped being (false) the maintenance leader.
        public var leadership: @Sendable (Bool) -> Void
        /// The control connection is up (true) or down (false).
        public var connected: @Sendable (Bool) -> Void

        public init(
            jobsAvailable: @escaping @Sendable () -> Void, leadership: @escaping @Sendable (Bool) -> Void,
            connected: @escaping @Sendable (Bool) -> Void = { _ in }
        ) {
            self.jobsAvailable = jobsAvailable
            self.leadership = leadership
            self.connected = connected
        }
    }

    private let url: String
    private let instanceID: String
    private let logger: Logger
    /// How often a follower tries to become leader and a leader checks it still is.
    private let tickMs: Int32
    /// How long each round trip may take (nil: no limit). A leader whose database stops
    /// answering gives the leadership up at this deadline, as when the connection breaks.
    private let timeout: Duration?

    public init(url: String, instanceID: String, logger: Logger, tickMs: Int32 = 1000, timeout: Duration? = .seconds(10)) {
        self.url = url
        self.instanceID = instanceID
        self.logger = logger
        self.tickMs = tickMs
        self.timeout = timeout
    }

    /// Blocks: connects, listens, contends for leadership, reconnects after failures.
    public func run(events: Events, shouldStop: @Sendable () -> Bool) {
        var backoffMs: UInt32 = 200
        while !shouldStop() {
            var leader = false
            do {
                let deadline = { self.timeout.map { ContinuousClock.now + $0 } }
                let conn = try PQConnection(url: self.url, deadline: deadline())
                try conn.exec(SQL.jobsListen)
                events.connected(true)
                backoffMs = 200
                // Someone may have enqueued while we were away.
                events.jobsAvailable()
                while !shouldStop() {
                    // A follower tries to take the lock; for a leader the same cheap round trip
                    // proves the session (and so the lock) is still alive.
                    // (pg_try_advisory_lock is re-entrant: a leader must not take it again.)
                    conn.deadline = deadline()
                    if leader {
                        try conn.run(SQL.Ping())
                    } else if try conn.row(SQL.LeaderTryLock()) {
                        leader = true
                        self.logger.notice("this coordinator is now the maintenance leader")
                        events.leadership(true)
                    }
                    let payloads = try conn.waitForNotifications(timeoutMs: self.tickMs)
                    if payloads.contains(where: { $0 != self.instanceID }) { events.jobsAvailable() }
                }
                if leader { events.leadership(false) }
                return  // stopping: closing the connection frees the lock
            } catch {
                events.connected(false)
                if leader {
                    self.logger.warning("lost the maintenance leadership with the control connection")
                    events.leadership(false)
                }
                self.logger.warning("control connection failed, retrying", metadata: ["error": "\(error)"])
                var slept: UInt32 = 0
                while slept < backoffMs && !shouldStop() {
                    usleep(50_000)
                    slept += 50
                }
                backoffMs = min(backoffMs * 2, 5000)
            }
        }
    }
}
