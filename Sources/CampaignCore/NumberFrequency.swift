import Foundation

/// How often one phone number may be called (issue 15): at most `per24h` calls in any 24 hours
/// (the lower of the law's cap, ``JurisdictionFloor/callsPer24h``, and the operator's) and at
/// most `perLocalDay` on one date of the called person's clock (the operator's). Counted over
/// every call to the number, whatever the job, the retry, the customer or the campaign. Pure:
/// the calls come in as their start instants.
public struct NumberFrequencyCap: Sendable, Equatable {
    public var per24h: Int?
    public var perLocalDay: Int?

    public init(per24h: Int? = nil, perLocalDay: Int? = nil) {
        self.per24h = per24h
        self.perLocalDay = perLocalDay
    }

    /// The law's cap and the operator's: the operator's can only lower the law's.
    public static func combined(legal: Int?, operator: Int?, perLocalDay: Int? = nil) -> NumberFrequencyCap {
        let caps = [legal, `operator`].compactMap { $0 }
        return NumberFrequencyCap(per24h: caps.min(), perLocalDay: perLocalDay)
    }

    public static let none = NumberFrequencyCap()

    /// The first instant from `now` on at which one more call is within both caps, given the
    /// starts of the calls already made to the number (any order): `now` itself when it is.
    ///
    /// Rolling: with `k` calls in the 24 hours up to `now` and a cap of `c`, the next call waits
    /// until the oldest `k - c + 1` of them are more than 24 hours old. Daily: with the cap
    /// reached on today's local date, the next call waits until the next local midnight.
    public func nextAllowed(after now: Date, calls: [Date], in timeZone: TimeZone) -> Date {
        // Whole microseconds (PostgreSQL's resolution), so a call exactly 24 hours back is
        // outside the window here as it is there, whatever the doubles' rounding.
        func us(_ d: Date) -> Int64 { Int64((d.timeIntervalSinceReferenceDate * 1_000_000).rounded()) }
        func date(_ us: Int64) -> Date { Date(timeIntervalSinceReferenceDate: Double(us) / 1_000_000) }
        let sorted = calls.map(us).sorted()
        let day: Int64 = 86_400_000_000
        var t = us(now)
        // Each step moves `t` forward to where one cap is met; at most a few rounds settle both.
        for _ in 0..<8 {
            var next = t
            if let cap = self.per24h {
                if cap <= 0 { return .distantFuture }
                let inWindow = sorted.filter { $0 > t - day && $0 <= t }
                if inWindow.count >= cap {
                    // The call that must leave the window: then the count is cap - 1.
                    next = max(next, inWindow[inWindow.count - cap] + day)
                }
            }
            if let cap = self.perLocalDay {
                if cap <= 0 { return .distantFuture }
                let today = LocalTime(date(t), timeZone).day
                let onDay = sorted.filter { $0 <= t && LocalTime(date($0), timeZone).day == today }.count
                if onDay >= cap {
                    next = max(next, us(LocalTime.instant(localSeconds: (today + 1) * 86_400, in: timeZone)))
                }
            }
            if next == t { return t == us(now) ? now : date(t) }
            t = next
        }
        return date(t)
    }
}

