/// How long finished jobs, call logs and events are kept (the `retention` setting, issue 14).
/// Pure: the pruner asks it for the cutoffs of a moment and deletes what is older.
public struct Retention: Sendable, Equatable {
    /// How long one kind of row is kept: a whole number of hours or days, or forever.
    public enum Period: Sendable, Equatable, CustomStringConvertible {
        case seconds(Int)
        case forever

        /// `12h`, `30d`, or `forever`; from 1 hour to 36,500 days.
        public init?(_ text: String) {
            if text == "forever" {
                self = .forever
                return
            }
            guard let unit = text.last, let n = Int(text.dropLast()), n > 0, String(n) + String(unit) == text else { return nil }
            switch unit {
            case "h" where n <= 876_000: self = .seconds(n * 3600)
            case "d" where n <= 36_500: self = .seconds(n * 86_400)
            default: return nil
            }
        }

        public var description: String {
            switch self {
            case .forever: return "forever"
            case .seconds(let s): return s % 86_400 == 0 ? "\(s / 86_400)d" : "\(s / 3600)h"
            }
        }

        /// Rows last changed before this instant go (nil: none ever goes).
        public func cutoff(now: Double) -> Double? {
            switch self {
            case .forever: return nil
            case .seconds(let s): return now - Double(s)
            }
        }
    }

    /// Jobs COMPLETED, SKIPPED and FAILED: kept this long after their last change.
    public var completed: Period
    public var skipped: Period
    public var failed: Period
    /// Call logs, by the call's time: the compliance record, kept even after their job is gone.
    public var callLogs: Period
    /// The event outbox, by the transition's time.
    public var events: Period

    public init(completed: Period, skipped: Period, failed: Period, callLogs: Period, events: Period) {
        self.completed = completed
        self.skipped = skipped
        self.failed = failed
        self.callLogs = callLogs
        self.events = events
    }

    /// The cutoffs at `now` (seconds since the epoch), nil where kept forever.
    public func cutoffs(now: Double) -> Cutoffs {
        Cutoffs(
            completed: self.completed.cutoff(now: now), skipped: self.skipped.cutoff(now: now),
            failed: self.failed.cutoff(now: now), callLogs: self.callLogs.cutoff(now: now),
            events: self.events.cutoff(now: now))
    }

    /// Instants (seconds since the epoch) before which rows go; nil: none goes.
    public struct Cutoffs: Sendable, Equatable {
        public var completed: Double?
        public var skipped: Double?
        public var failed: Double?
        public var callLogs: Double?
        public var events: Double?

        public init(completed: Double?, skipped: Double?, failed: Double?, callLogs: Double?, events: Double?) {
            self.completed = completed
            self.skipped = skipped
            self.failed = failed
            self.callLogs = callLogs
            self.events = events
        }

        /// Whether no job of any finished state ever goes.
        public var keepsEveryJob: Bool { self.completed == nil && self.skipped == nil && self.failed == nil }
    }
}
