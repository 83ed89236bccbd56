import Foundation

/// When a campaign may call, on each customer's own wall clock: several windows a day (each a
/// set of ISO weekdays and a start and end time; start inclusive, end exclusive, `24:00` the
/// end of the day) and blackout dates (customer-local dates on which no window opens). Pure.
///
/// The SQL functions `campaign.in_window` and `campaign.next_opening` (migration 0007) compute
/// the same, by the same steps; randomized tests hold the two to the same answers.
public struct CallingWindows: Sendable, Equatable {
    public struct Window: Sendable, Equatable {
        /// ISO weekdays: 1 = Monday … 7 = Sunday.
        public var isoWeekdays: Set<Int>
        /// Seconds after local midnight: start inclusive, end exclusive (86400 = end of day).
        public var startSecond: Int
        public var endSecond: Int

        public init(isoWeekdays: Set<Int>, startSecond: Int, endSecond: Int) {
            self.isoWeekdays = isoWeekdays
            self.startSecond = startSecond
            self.endSecond = endSecond
        }

        /// The weekdays as SQL passes them: bit `d - 1` set for ISO weekday `d`.
        public var weekdayMask: Int { self.isoWeekdays.reduce(0) { $0 | (1 << ($1 - 1)) } }

        func contains(isoWeekday: Int, secondOfDay: Int) -> Bool {
            self.isoWeekdays.contains(isoWeekday) && secondOfDay >= self.startSecond && secondOfDay < self.endSecond
        }
    }

    public var windows: [Window]
    /// Local dates without calls, as days since 1970-01-01.
    public var blackoutDays: Set<Int64>

    /// How far ``nextOpening(after:in:)`` looks: a year and a month of dates.
    public static let horizonDays = 400

    public init(windows: [Window], blackoutDays: Set<Int64> = []) {
        self.windows = windows
        self.blackoutDays = blackoutDays
    }

    /// The one window of the older settings (`workingHoursStart`/`End`, `workingDays`).
    public init(_ hours: WorkingHours) {
        self.init(windows: [Window(isoWeekdays: hours.isoWeekdays, startSecond: hours.startSecond, endSecond: hours.endSecond)])
    }

    /// True when `instant` falls inside a window on the customer's wall clock, on a date that is
    /// not blacked out.
    public func contains(_ instant: Date, in timeZone: TimeZone) -> Bool {
        self.contains(LocalTime(instant, timeZone))
    }

    func contains(_ local: LocalTime) -> Bool {
        !self.blackoutDays.contains(local.day)
            && self.windows.contains { $0.contains(isoWeekday: local.isoWeekday, secondOfDay: local.secondOfDay) }
    }

    /// The first instant from `instant` on at which the customer may be called: `instant` itself
    /// when it is inside a window, else the earliest window start after it on the first local
    /// date (from today on, blackout dates skipped) that has one. Nil when no window opens within
    /// ``horizonDays``.
    ///
    /// A window start is a wall-clock time; it becomes an instant as PostgreSQL converts a local
    /// time: a time that a clock change skips (02:30 on a spring-forward night) is read with the
    /// offset before the change (02:30 "standard" = 03:30 after it), a time that occurs twice
    /// (01:30 on a fall-back night) as the later one. A start that lands outside every window that
    /// way (a window inside the skipped hour) does not open.
    public func nextOpening(after instant: Date, in timeZone: TimeZone) -> Date? {
        let at = instant.flooredToMicroseconds
        let now = LocalTime(at, timeZone)
        if self.contains(now) { return at }
        for k in 0..<Int64(Self.horizonDays) {
            let day = now.day + k
            if self.blackoutDays.contains(day) { continue }
            let weekday = LocalTime.isoWeekday(ofDay: day)
            var best: Date?
            for w in self.windows where w.isoWeekdays.contains(weekday) {
                let start = LocalTime.instant(localSeconds: day * 86_400 + Int64(w.startSecond), in: timeZone)
                if start > at, self.contains(start, in: timeZone), best.map({ start < $0 }) ?? true { best = start }
            }
            if let best { return best }
        }
        return nil
    }
}

extension LocalTime {
    /// The ISO weekday of the day `day` days after 1970-01-01 (a Thursday, ISO 4).
    public static func isoWeekday(ofDay day: Int64) -> Int {
        Int(((day % 7) + 7 + 3) % 7) + 1
    }

    /// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian), or nil when it is not one.
    public static func day(of date: String) -> Int64? {
        let parts = date.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]), (1...12).contains(m)
        else { return nil }
        let days = Self.days(fromCivil: y, m, d)
        // 2026-02-30 is not a date: it must read back as itself.
        guard Self.civil(fromDays: days) == (y, m, d) else { return nil }
        return days
    }

    /// Days since 1970-01-01 of a year, month and day (the inverse of `civil(fromDays:)`).
    static func days(fromCivil y: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y - 1 : y
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400  // [0, 399]
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1  // [0, 365]
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy  // [0, 146096]
        return era * 146_097 + doe - 719_468
    }

    /// The instant whose wall-clock reading in `timeZone` is `localSeconds` (seconds since
    /// 1970-01-01 00:00 local), resolved as PostgreSQL resolves `timestamp AT TIME ZONE`
    /// (`DetermineTimeZoneOffset`): find the zone's next offset change after one day before the
    /// reading taken as UTC; if both readings fall on one side of it, that side's offset; in a
    /// skipped time, the offset before the change; in a repeated time, the offset after it.
    public static func instant(localSeconds: Int64, in timeZone: TimeZone) -> Date {
        let asUTC = Double(localSeconds)
        let from = asUTC - 86_400
        let before = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: from))
        // PostgreSQL, too, assumes offsets under a day and changes at least two days apart.
        guard let boundary = Self.nextOffsetChange(after: from, until: asUTC + 86_400, in: timeZone, offset: before) else {
            return Date(timeIntervalSince1970: asUTC - Double(before))
        }
        let after = timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: boundary))
        let beforeTime = asUTC - Double(before)
        let afterTime = asUTC - Double(after)
        // (The boundary itself counts as after the change, so the second test accepts it.)
        if beforeTime < boundary && afterTime < boundary { return Date(timeIntervalSince1970: beforeTime) }
        if beforeTime > boundary && afterTime >= boundary { return Date(timeIntervalSince1970: afterTime) }
        // Skipped (the offset grows: beforeTime > afterTime) or repeated.
        return Date(timeIntervalSince1970: beforeTime > afterTime ? beforeTime : afterTime)
    }

    /// The first whole second in `(from, until]` at which the zone's offset is no longer
    /// `offset`, or nil when it stays. Sampled every hour, then halved to the second.
    static func nextOffsetChange(after from: Double, until: Double, in timeZone: TimeZone, offset: Int) -> Double? {
        var low = from.rounded(.down)
        var probe = low
        while probe < until {
            let next = min(probe + 3600, until)
            if timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: next)) != offset {
                var high = next
                low = probe
                while high - low > 1 {
                    let mid = ((low + high) / 2).rounded(.down)
                    if timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: mid)) != offset { high = mid } else { low = mid }
                }
                return high
            }
            probe = next
        }
        return nil
    }
}
