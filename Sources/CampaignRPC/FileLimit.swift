#if canImport(Glibc)
import Glibc
#endif

/// The process's limit of open file descriptors (`RLIMIT_NOFILE`), which bounds the connections a
/// daemon can hold (issue 17).
///
/// systemd starts services with a soft limit of 1024 and a hard limit far above it (524288 by
/// default since v240): the soft limit is kept low for programs that still use `select(2)`. These
/// daemons use epoll (SwiftNIO) and raise their soft limit to the hard one at start, as Go's
/// runtime does on Linux and nginx does with `worker_rlimit_nofile`; the units' `LimitNOFILE=`
/// is the considered bound.
public enum FileLimit {
    public struct Limits: Sendable, Equatable, CustomStringConvertible {
        public var soft: UInt64
        public var hard: UInt64
        public init(soft: UInt64, hard: UInt64) {
            self.soft = soft
            self.hard = hard
        }
        public var description: String { "\(self.soft) (hard \(self.hard))" }
    }

    /// The most the soft limit is raised to, whatever the hard limit says.
    public static let ceiling: UInt64 = 1 << 20

    public static func current() -> Limits? {
        var r = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &r) == 0 else { return nil }
        return Limits(soft: UInt64(r.rlim_cur), hard: UInt64(r.rlim_max))
    }

    /// The soft limit to ask for: the hard one, at most ``ceiling``, never below the present soft one.
    public static func target(for limits: Limits) -> UInt64 {
        max(limits.soft, min(limits.hard, Self.ceiling))
    }

    /// Descriptors a coordinator keeps for itself when its connection cap is derived from the
    /// limit: the database pool (`poolSize`, each connection a socket), the control connection,
    /// the listeners, the journal, HTTP scrapes, files, and a margin.
    public static func reserve(poolSize: Int) -> Int { 64 + 2 * poolSize }

    /// The connection cap derived from the soft limit: the limit less ``reserve(poolSize:)``,
    /// at least 16.
    public static func connectionCap(soft: UInt64, poolSize: Int) -> Int {
        max(16, Int(min(soft, 1 << 30)) - Self.reserve(poolSize: poolSize))
    }

    /// Raises the soft limit to ``target(for:)``. Answers the limits before and after (nil when
    /// they cannot be read); when raising fails the two are equal.
    @discardableResult
    public static func raiseSoftToHard() -> (before: Limits, after: Limits)? {
        guard let before = Self.current() else { return nil }
        let wanted = Self.target(for: before)
        guard wanted > before.soft else { return (before, before) }
        var r = rlimit(rlim_cur: rlim_t(wanted), rlim_max: rlim_t(before.hard))
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &r) == 0 else { return (before, before) }
        return (before, Self.current() ?? before)
    }
}

import Logging

extension FileLimit {
    /// ``raiseSoftToHard()`` at a daemon's start, saying what it did.
    public static func raise(logging logger: Logger) {
        guard let (before, after) = Self.raiseSoftToHard() else {
            logger.warning("cannot read the limit of open files (RLIMIT_NOFILE)")
            return
        }
        if after.soft > before.soft {
            logger.info("limit of open files raised", metadata: ["from": "\(before.soft)", "to": "\(after.soft)", "hard": "\(after.hard)"])
        } else if after.soft < Self.target(for: before) {
            logger.warning("cannot raise the limit of open files", metadata: ["soft": "\(before.soft)", "hard": "\(before.hard)"])
        } else {
            logger.debug("limit of open files", metadata: ["soft": "\(after.soft)", "hard": "\(after.hard)"])
        }
    }
}
