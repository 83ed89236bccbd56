import CSystemd
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A thin wrapper over libsystemd's notify and socket-activation calls.
///
/// Every call is a cheap no-op when the process was not started by systemd (`NOTIFY_SOCKET`
/// unset), so the daemons call it unconditionally.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// Sends raw `KEY=VALUE` lines; returns false when nobody listens.
    @discardableResult
    public func send(_ state: String) -> Bool {
        sd_notify(0, state) > 0
    }

    public func status(_ status: String) { self.send("STATUS=\(Self.oneLine(status))") }
    public func stopping(status: String) { self.send("STOPPING=1\nSTATUS=\(Self.oneLine(status))") }
    public func reloading() { self.send("RELOADING=1") }
    public func watchdogPing() { self.send("WATCHDOG=1") }

    /// The watchdog interval systemd expects pings within, when the watchdog is on for this process.
    public func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }

    /// The first socket passed by systemd (`LISTEN_FDS`), if any. Unsets the variables so
    /// children do not inherit them.
    public func listenFileDescriptor() -> Int32? {
        let n = sd_listen_fds(1)
        return n >= 1 ? SD_LISTEN_FDS_START : nil
    }

    public static func oneLine(_ s: String) -> String {
        String(s.map { $0 == "\n" ? " " : $0 })
    }
}
