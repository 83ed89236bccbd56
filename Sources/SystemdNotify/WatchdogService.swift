import Logging
import ServiceLifecycle

/// Sends `WATCHDOG=1` at half of `WATCHDOG_USEC`, but only while the process's own liveness
/// check passes — so a hung process stops pinging and systemd restarts it.
///
/// Does nothing when the watchdog is off for this process. A dependency outage (the database)
/// is not a hang: liveness checks must not fail for it.
public struct WatchdogService: Service {
    private let notifier: SystemdNotifier
    private let isAlive: @Sendable () async -> Bool
    private let logger: Logger

    public init(notifier: SystemdNotifier, logger: Logger, isAlive: @escaping @Sendable () async -> Bool) {
        self.notifier = notifier
        self.isAlive = isAlive
        self.logger = logger
    }

    public func run() async throws {
        guard let interval = self.notifier.watchdogInterval() else {
            // No watchdog configured: wait for shutdown so the service group stays whole.
            try? await gracefulShutdown()
            return
        }
        let period = interval / 2
        self.logger.info("watchdog on", metadata: ["ping.every": "\(period)"])
        var failing = false
        while !Task.isShuttingDownGracefully {
            if await self.isAlive() {
                self.notifier.watchdogPing()
                if failing { self.logger.notice("liveness check passes again") }
                failing = false
            } else if !failing {
                failing = true
                self.logger.error("liveness check failed: not pinging the watchdog")
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
        }
    }
}
