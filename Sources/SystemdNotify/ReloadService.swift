import Logging
import ServiceLifecycle
import UnixSignals

/// SIGHUP reload (`ExecReload=kill -HUP $MAINPID`; systemd 252 has no `Type=notify-reload`):
/// sends `RELOADING=1`, runs `reload`, then `READY=1` — so `systemctl reload` waits for it.
public struct ReloadService: Service {
    private let notifier: SystemdNotifier
    private let logger: Logger
    private let reload: @Sendable () async -> String

    /// - Parameter reload: re-reads what can change without a restart; returns a short summary
    ///   for the log and `STATUS=`.
    public init(notifier: SystemdNotifier, logger: Logger, reload: @escaping @Sendable () async -> String) {
        self.notifier = notifier
        self.logger = logger
        self.reload = reload
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            self.notifier.reloading()
            self.logger.info("reloading (SIGHUP)")
            let summary = await self.reload()
            self.notifier.send("READY=1\nSTATUS=\(SystemdNotifier.oneLine(summary))")
            self.logger.info("reloaded", metadata: ["summary": "\(summary)"])
        }
    }
}
