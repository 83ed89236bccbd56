import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A `LogHandler` writing one event per line to stderr with the journald priority prefix
/// (`<3>` error … `<7>` debug), so `journalctl -p` filters work under systemd.
public struct JournalLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String

    public init(label: String) {
        self.label = label
    }

    /// Makes this handler the process's log handler, at `level`. Call once, from `main`.
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var h = JournalLogHandler(label: label)
            h.logLevel = level
            return h
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "<\(Self.priority(event.level))>\(event.message)"
        var merged = self.metadata
        if let extra = event.metadata { merged.merge(extra, uniquingKeysWith: { $1 }) }
        for key in merged.keys.sorted() {
            line += " \(key)=\(Self.flatten("\(merged[key]!)"))"
        }
        line += "\n"
        // One write(2) per event: lines of concurrent events never interleave.
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// Keeps an event on one line.
    static func flatten(_ s: String) -> String {
        s.contains(where: { $0 == "\n" || $0 == " " }) ? "\"" + s.replacingNewlines() + "\"" : s
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        String(self.map { $0 == "\n" ? " " : $0 })
    }
}
