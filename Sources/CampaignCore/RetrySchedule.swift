import Foundation

/// Retries by call outcome (issue 13): for each outcome named, the delay before each retry,
/// e.g. NO_ANSWER `["30m", "4h", "nextWindow"]`, BUSY `["10m", "30m"]`, VOICEMAIL `["nextDay"]`.
/// The number of delays is that outcome's retries: after attempt *n* ended with outcome *O*, the
/// job is retried after *O*'s *n*-th delay, and when *O* has fewer than *n* delays it fails for
/// good — always within the job's `maxAttempts`. An outcome not named keeps the exponential
/// backoff (``RetryPolicy``). Pure: the clock and the customer's zone are given.
public struct RetrySchedule: Sendable, Equatable {
    /// One delay of the list.
    public enum Delay: Sendable, Equatable, CustomStringConvertible {
        /// A fixed time after the failure (`90s`, `30m`, `4h`, `2d`). Due outside the calling
        /// windows, the pre-dial check then defers it to the next opening.
        case after(seconds: Int)
        /// The next window's opening after the one the failure happened in (or the next opening,
        /// when it happened outside the windows), on the customer's clock.
        case nextWindow
        /// The first opening on a later customer-local date.
        case nextDay

        /// `90s`, `30m`, `4h`, `2d` (1…604800 seconds in all), `nextWindow`, `nextDay`.
        public init?(_ text: String) {
            switch text {
            case "nextWindow": self = .nextWindow
            case "nextDay": self = .nextDay
            default:
                guard let unit = text.last, let n = Int(text.dropLast()), n > 0 else { return nil }
                let scale: Int
                switch unit {
                case "s": scale = 1
                case "m": scale = 60
                case "h": scale = 3600
                case "d": scale = 86_400
                default: return nil
                }
                let (seconds, overflow) = n.multipliedReportingOverflow(by: scale)
                guard !overflow, seconds <= 604_800 else { return nil }
                self = .after(seconds: seconds)
            }
        }

        public var description: String {
            switch self {
            case .nextWindow: return "nextWindow"
            case .nextDay: return "nextDay"
            case .after(let s):
                if s % 86_400 == 0 { return "\(s / 86_400)d" }
                if s % 3600 == 0 { return "\(s / 3600)h" }
                if s % 60 == 0 { return "\(s / 60)m" }
                return "\(s)s"
            }
        }
    }

    public var delays: [CallOutcome: [Delay]]

    public init(delays: [CallOutcome: [Delay]] = [:]) {
        self.delays = delays
    }

    /// What to do after attempt `attemptsMade` failed retryably with `outcome`.
    public enum Plan: Sendable, Equatable {
        /// The outcome is not named: the exponential backoff decides.
        case backoff
        /// Retry at this instant.
        case at(Date)
        /// The outcome's retries are spent: fail for good.
        case noMoreRetries
    }

    /// The plan after attempt `attemptsMade` (≥ 1) ended with `outcome` at `now`, for a customer
    /// on `timeZone` with the campaign's `windows`. A window delay that finds no opening within
    /// the windows' horizon plans no retry.
    public func plan(
        outcome: CallOutcome?, afterAttempt attemptsMade: Int, now: Date, windows: CallingWindows, timeZone: TimeZone
    ) -> Plan {
        guard let outcome, let list = self.delays[outcome] else { return .backoff }
        guard attemptsMade >= 1, attemptsMade <= list.count else { return .noMoreRetries }
        switch list[attemptsMade - 1] {
        case .after(let seconds):
            return .at(now.addingTimeInterval(Double(seconds)))
        case .nextWindow:
            return windows.nextWindowOpening(after: now, in: timeZone).map(Plan.at) ?? .noMoreRetries
        case .nextDay:
            let tomorrow = LocalTime(now, timeZone).day + 1
            let midnight = LocalTime.instant(localSeconds: tomorrow * 86_400, in: timeZone)
            // A midnight the clock skips reads as an instant of the day before: step past it.
            let from = LocalTime(midnight, timeZone).day < tomorrow ? midnight.addingTimeInterval(3600) : midnight
            return windows.nextOpening(after: from, in: timeZone).map(Plan.at) ?? .noMoreRetries
        }
    }

    /// Whether some outcome's delays depend on the calling windows (a plan then needs the
    /// customer's zone).
    public var needsWindows: Bool {
        self.delays.values.contains { $0.contains { $0 == .nextWindow || $0 == .nextDay } }
    }
}

extension CallingWindows {
    /// The opening of the next window after the present one: when `instant` is inside a window,
    /// the first opening after that window (and any window it runs into) closes; otherwise the
    /// next opening. Nil when none opens within the horizon.
    public func nextWindowOpening(after instant: Date, in timeZone: TimeZone) -> Date? {
        var t = instant.flooredToMicroseconds
        // Walk to the end of the open stretch: each step jumps to the end of the window holding
        // `t` (a stretch of back-to-back windows ends within a few days, blackouts aside).
        var steps = 0
        while self.contains(t, in: timeZone) {
            steps += 1
            guard steps <= 64 else { return nil }  // open around the clock: no next window
            let local = LocalTime(t, timeZone)
            let ends = self.windows
                .filter { $0.contains(isoWeekday: local.isoWeekday, secondOfDay: local.secondOfDay) }
                .map(\.endSecond)
            guard let end = ends.max() else { break }
            let next = LocalTime.instant(localSeconds: local.day * 86_400 + Int64(end), in: timeZone)
            // A window end the clock skips or repeats may not move `t` forward: a second past it.
            t = next > t ? next : t.addingTimeInterval(1)
        }
        return self.nextOpening(after: t, in: timeZone)
    }
}
