import Logging
import NIOConcurrencyHelpers

/// What this coordinator last saw of PostgreSQL: the one place that says "up" or "down".
///
/// Every database round trip reports here (a method's store call, a maintenance duty, `health`).
/// The change of state is logged once — `database unreachable` with the error, then `database
/// reachable again` with how long it was away — so an outage with hundreds of polling agents is
/// two lines in the journal, not one per request.
public final class DatabaseHealth: Sendable {
    private struct State {
        var up = true
        var downSince: ContinuousClock.Instant?
    }

    private let state = NIOLockedValueBox(State())
    private let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// True unless the last round trip found the database unreachable.
    public var isUp: Bool { self.state.withLockedValue { $0.up } }

    /// A round trip succeeded.
    public func succeeded() {
        let outage = self.state.withLockedValue { s -> Duration? in
            guard !s.up else { return nil }
            s.up = true
            defer { s.downSince = nil }
            return s.downSince.map { ContinuousClock.now - $0 }
        }
        if let outage {
            self.logger.notice("database reachable again", metadata: ["outage": "\(outage)"])
        }
    }

    /// A round trip found the database unreachable (not a query error: those say nothing of it).
    /// Returns true when this is the change from up to down.
    @discardableResult
    public func unreachable(_ error: any Error, during what: String) -> Bool {
        let changed = self.state.withLockedValue { s -> Bool in
            guard s.up else { return false }
            s.up = false
            s.downSince = ContinuousClock.now
            return true
        }
        if changed {
            self.logger.error("database unreachable", metadata: ["error": "\(error)", "during": "\(what)"])
        } else {
            self.logger.debug("database still unreachable", metadata: ["error": "\(error)", "during": "\(what)"])
        }
        return changed
    }
}
