import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// What this coordinator last saw of PostgreSQL: the one place that says "up", "down" or
/// "unresponsive".
///
/// Every database round trip reports here (a method's store call, a maintenance duty, `health`).
/// The change of state is logged once — `database unreachable` (or `database unresponsive`, when
/// calls met their deadline) with the error, then `database reachable again` with how long it was
/// away — so an outage with hundreds of polling agents is two lines in the journal, not one per
/// request.
public final class DatabaseHealth: Sendable {
    /// How the database stands.
    public enum Condition: String, Sendable, Equatable {
        /// The last round trip succeeded.
        case up
        /// It refused connections or the connection broke.
        case down
        /// It did not answer before a call's deadline (frozen, a stuck disk, a partition).
        case unresponsive
    }

    private struct State {
        var condition = Condition.up
        var downSince: ContinuousClock.Instant?
        var downSinceDate: Date?
    }

    private let state = NIOLockedValueBox(State())
    private let logger: Logger
    /// Called when the condition changes (the executable refreshes `STATUS=` with it at once,
    /// rather than at the next maintenance round).
    public let changed = NIOLockedValueBox<(@Sendable () -> Void)?>(nil)

    public init(logger: Logger) {
        self.logger = logger
    }

    /// True unless the last round trip found the database unreachable or unresponsive.
    public var isUp: Bool { self.state.withLockedValue { $0.condition == .up } }

    /// The condition, and since when it is not `up` (nil when up).
    public var condition: (Condition, since: Date?) {
        self.state.withLockedValue { ($0.condition, $0.downSinceDate) }
    }

    /// A round trip succeeded.
    public func succeeded() {
        let outage = self.state.withLockedValue { s -> Duration? in
            guard s.condition != .up else { return nil }
            s.condition = .up
            defer { (s.downSince, s.downSinceDate) = (nil, nil) }
            return s.downSince.map { ContinuousClock.now - $0 }
        }
        if let outage {
            self.logger.notice("database reachable again", metadata: ["outage": "\(outage)"])
            self.changed.withLockedValue { $0 }?()
        }
    }

    /// A round trip found the database unreachable, or met its deadline (not a query error:
    /// those say nothing of it). Returns true when this is the change from up.
    @discardableResult
    public func unreachable(_ error: any Error, during what: String) -> Bool {
        let timedOut = (error as? StoreError)?.code == .timedOut
        return self.failed(timedOut ? .unresponsive : .down, error: "\(error)", during: what)
    }

    /// `health`'s own reads got no answer within its second (they go on in the background).
    public func noAnswer(during what: String) {
        self.failed(.unresponsive, error: "no answer within a second", during: what)
    }

    @discardableResult
    private func failed(_ condition: Condition, error: String, during what: String) -> Bool {
        let (changed, was) = self.state.withLockedValue { s -> (Bool, Condition) in
            let was = s.condition
            if was == .up {
                s.downSince = ContinuousClock.now
                s.downSinceDate = Date()
            }
            s.condition = condition
            return (was != condition, was)
        }
        if changed {
            self.changed.withLockedValue { $0 }?()
            let message: Logger.Message = condition == .down ? "database unreachable" : "database unresponsive"
            // From down to unresponsive or back is news; from up it is the outage's start.
            self.logger.log(
                level: was == .up ? .error : .warning, message,
                metadata: ["error": "\(error)", "during": "\(what)"])
        } else {
            self.logger.debug("database still \(condition.rawValue)", metadata: ["error": "\(error)", "during": "\(what)"])
        }
        return was == .up
    }
}
