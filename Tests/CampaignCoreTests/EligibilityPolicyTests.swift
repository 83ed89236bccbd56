import CampaignCore
import Foundation
import Testing

// The reference eligibility policy of DESIGN §5: working hours read on the customer's own wall
// clock (DST-correct), the rule order, the cooldown boundary and the pre-dial verdict.
//
// Every expected local time below was worked out independently of Foundation (with Python's
// zoneinfo over the IANA database) and is written out next to its instant.

/// An instant from an ISO 8601 UTC string (`2026-03-08T06:59:59Z`, fractions allowed).
private func utc(_ text: String) -> Date {
    let f = ISO8601DateFormatter()
    f.formatOptions = text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
    guard let d = f.date(from: text) else { fatalError("bad test instant \(text)") }
    return d
}

private func zone(_ id: String) -> TimeZone {
    guard let z = TimeZone(identifier: id) else { fatalError("unknown zone \(id)") }
    return z
}

private func hm(_ h: Int, _ m: Int, _ s: Int = 0) -> Int { h * 3600 + m * 60 + s }

private let everyDay: Set<Int> = [1, 2, 3, 4, 5, 6, 7]
private let weekdays: Set<Int> = [1, 2, 3, 4, 5]

@Suite("WorkingHours.parse: HH:MM, 24:00 only as the end of the day")
struct WorkingHoursParseTests {
    @Test(
        "valid times parse to seconds after midnight",
        arguments: [
            ("00:00", 0), ("00:01", 60), ("09:00", 32_400), ("09:30", 34_200), ("12:05", 43_500),
            ("18:00", 64_800), ("23:59", 86_340), ("24:00", 86_400),
        ])
    func valid(_ text: String, _ seconds: Int) {
        #expect(WorkingHours.parse(text) == seconds)
    }

    @Test(
        "malformed or out-of-range times are refused",
        arguments: [
            "", ":", "9:00", "09:0", "9:5", "0900", "09:00:00", "09-00", "09.00", "ab:cd", "09:6O",
            "09:60", "25:00", "24:01", "24:30", "99:99", " 9:00", "09: 0", "09:00 ", "０９:００",
        ])
    func invalid(_ text: String) {
        #expect(WorkingHours.parse(text) == nil)
    }

    /// `HH:MM` is two digits and two digits: a sign is not a digit. PostgreSQL's `time`, which
    /// reads the same settings in `automation.run`, refuses `+9:00` and `-0:00` and reads `09:+5`
    /// as 09:00 (the `+5` as a zone offset), so anything Swift accepts here is judged differently
    /// (or fails) in SQL.
    @Test("signed fields are refused", arguments: ["+9:00", "-0:00", "-1:00", "09:+5", "+0:+0", "1+:00"])
    func signed(_ text: String) {
        #expect(
            WorkingHours.parse(text) == nil,
            "parse(\(text.debugDescription)) = \(String(describing: WorkingHours.parse(text)))")
    }

    @Test("24:00 is the end of the day: it contains 23:59:59 and never midnight")
    func twentyFourHundred() {
        let day = WorkingHours(
            startSecond: WorkingHours.parse("00:00")!, endSecond: WorkingHours.parse("24:00")!, isoWeekdays: everyDay)
        let utcZone = zone("UTC")
        #expect(day.contains(utc("2026-06-01T00:00:00Z"), in: utcZone))
        #expect(day.contains(utc("2026-06-01T23:59:59Z"), in: utcZone))
        #expect(day.contains(utc("2026-06-01T23:59:59.999Z"), in: utcZone))
        let lateEvening = WorkingHours(
            startSecond: hm(22, 0), endSecond: WorkingHours.parse("24:00")!, isoWeekdays: [1])
        // 2026-06-01 is a Monday: 23:59:59 is in; midnight is Tuesday 00:00, out.
        #expect(lateEvening.contains(utc("2026-06-01T23:59:59.999Z"), in: utcZone))
        #expect(!lateEvening.contains(utc("2026-06-02T00:00:00Z"), in: utcZone))
        #expect(!lateEvening.contains(utc("2026-06-01T21:59:59.999Z"), in: utcZone))
    }
}

@Suite("WorkingHours.contains and LocalTime: the customer's wall clock")
struct WorkingHoursContainsTests {
    let nineToSix = WorkingHours(startSecond: hm(9, 0), endSecond: hm(18, 0), isoWeekdays: weekdays)

    @Test("start inclusive, end exclusive, to the (fractional) second")
    func boundaries() {
        let z = zone("UTC")
        // 2026-06-15 is a Monday.
        #expect(!self.nineToSix.contains(utc("2026-06-15T08:59:59Z"), in: z))
        #expect(!self.nineToSix.contains(utc("2026-06-15T08:59:59.999Z"), in: z))
        #expect(self.nineToSix.contains(utc("2026-06-15T09:00:00Z"), in: z))
        #expect(self.nineToSix.contains(utc("2026-06-15T17:59:59Z"), in: z))
        #expect(self.nineToSix.contains(utc("2026-06-15T17:59:59.999Z"), in: z))
        #expect(!self.nineToSix.contains(utc("2026-06-15T18:00:00Z"), in: z))
        #expect(!self.nineToSix.contains(utc("2026-06-15T18:00:00.001Z"), in: z))
    }

    @Test("an empty window contains nothing; no weekdays contains nothing")
    func empty() {
        let z = zone("UTC")
        let instant = utc("2026-06-15T09:00:00Z")
        #expect(
            !WorkingHours(startSecond: hm(9, 0), endSecond: hm(9, 0), isoWeekdays: everyDay).contains(instant, in: z))
        #expect(!WorkingHours(startSecond: 0, endSecond: 86_400, isoWeekdays: []).contains(instant, in: z))
    }

    @Test(
        "ISO weekdays: Monday = 1 … Sunday = 7",
        arguments: [
            ("2026-06-15T12:00:00Z", 1), ("2026-06-16T12:00:00Z", 2), ("2026-06-17T12:00:00Z", 3),
            ("2026-06-18T12:00:00Z", 4), ("2026-06-19T12:00:00Z", 5), ("2026-06-20T12:00:00Z", 6),
            ("2026-06-21T12:00:00Z", 7), ("2026-01-01T00:00:00Z", 4), ("2024-02-29T23:59:59Z", 4),
            ("2027-12-31T23:59:59Z", 5),
        ])
    func isoWeekday(_ instant: String, _ iso: Int) {
        let z = zone("UTC")
        #expect(LocalTime(utc(instant), z).isoWeekday == iso)
        // Only that weekday's window holds the instant.
        for day in 1...7 {
            let w = WorkingHours(startSecond: 0, endSecond: 86_400, isoWeekdays: [day])
            #expect(w.contains(utc(instant), in: z) == (day == iso), "weekday \(day) at \(instant)")
        }
    }

    @Test("LocalTime agrees with Foundation's Calendar in every zone, 1850…2150, and around DST changes")
    func localTimeMatchesCalendar() throws {
        var rng = SplitMix64(seed: 0x10CA_17E)
        var checked = 0
        for id in TimeZone.knownTimeZoneIdentifiers {
            let z = try #require(TimeZone(identifier: id))
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = z
            var instants: [Date] = (0..<4).map { _ in
                // Whole and fractional seconds, before and after 1970.
                Date(timeIntervalSince1970: Double(Int64(rng.next() % 9_467_280_000) - 3_786_825_600) + 0.25)
            }
            if let change = z.nextDaylightSavingTimeTransition(after: Date(timeIntervalSince1970: 1_780_000_000)) {
                instants += [change - 1, change, change + 0.5]
            }
            for instant in instants {
                let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: instant)
                let t = LocalTime(instant, z)
                let date = String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
                #expect(t.date == date, "\(id) at \(instant)")
                #expect(t.secondOfDay == c.hour! * 3600 + c.minute! * 60 + c.second!, "\(id) at \(instant)")
                #expect(t.isoWeekday == ((c.weekday! + 5) % 7) + 1, "\(id) at \(instant)")
                checked += 1
            }
        }
        #expect(checked > 2000)
    }

    @Test("LocalTime drops fractions and formats the local date")
    func localTime() {
        let t = LocalTime(utc("2026-06-15T03:29:59.999Z"), zone("Asia/Kolkata"))
        #expect(t == LocalTime(utc("2026-06-15T03:29:59Z"), zone("Asia/Kolkata")))
        #expect(t.secondOfDay == hm(8, 59, 59))
        #expect(t.date == "2026-06-15")
        #expect(t.isoWeekday == 1)
        #expect(LocalTime(utc("2026-01-01T04:59:59Z"), zone("America/New_York")).date == "2025-12-31")
    }

    /// (instant, zone, local second of day, ISO weekday, local date)
    static let wallClocks: [(String, String, Int, Int, String)] = [
        // New York, spring forward 2026-03-08 02:00 EST → 03:00 EDT (07:00Z).
        ("2026-03-08T06:59:59Z", "America/New_York", hm(1, 59, 59), 7, "2026-03-08"),
        ("2026-03-08T07:00:00Z", "America/New_York", hm(3, 0), 7, "2026-03-08"),
        // New York, fall back 2026-11-01 02:00 EDT → 01:00 EST (06:00Z): 01:xx twice.
        ("2026-11-01T04:59:59Z", "America/New_York", hm(0, 59, 59), 7, "2026-11-01"),
        ("2026-11-01T05:00:00Z", "America/New_York", hm(1, 0), 7, "2026-11-01"),
        ("2026-11-01T05:59:59Z", "America/New_York", hm(1, 59, 59), 7, "2026-11-01"),
        ("2026-11-01T06:00:00Z", "America/New_York", hm(1, 0), 7, "2026-11-01"),
        ("2026-11-01T06:59:59Z", "America/New_York", hm(1, 59, 59), 7, "2026-11-01"),
        ("2026-11-01T07:00:00Z", "America/New_York", hm(2, 0), 7, "2026-11-01"),
        // Berlin, spring forward 2026-03-29 02:00 CET → 03:00 CEST (01:00Z).
        ("2026-03-29T00:59:59Z", "Europe/Berlin", hm(1, 59, 59), 7, "2026-03-29"),
        ("2026-03-29T01:00:00Z", "Europe/Berlin", hm(3, 0), 7, "2026-03-29"),
        // Berlin, fall back 2026-10-25 03:00 CEST → 02:00 CET (01:00Z): 02:xx twice.
        ("2026-10-24T23:59:59Z", "Europe/Berlin", hm(1, 59, 59), 7, "2026-10-25"),
        ("2026-10-25T00:30:00Z", "Europe/Berlin", hm(2, 30), 7, "2026-10-25"),
        ("2026-10-25T01:30:00Z", "Europe/Berlin", hm(2, 30), 7, "2026-10-25"),
        ("2026-10-25T02:00:00Z", "Europe/Berlin", hm(3, 0), 7, "2026-10-25"),
        // Southern hemisphere, fall back 2026-04-05 (local).
        ("2026-04-04T15:59:59Z", "Australia/Sydney", hm(2, 59, 59), 7, "2026-04-05"),
        ("2026-04-04T16:00:00Z", "Australia/Sydney", hm(2, 0), 7, "2026-04-05"),
        ("2026-04-04T14:59:59Z", "Australia/Lord_Howe", hm(1, 59, 59), 7, "2026-04-05"),  // +11 → +10:30
        ("2026-04-04T15:00:00Z", "Australia/Lord_Howe", hm(1, 30), 7, "2026-04-05"),
        ("2026-04-04T13:59:59Z", "Pacific/Chatham", hm(3, 44, 59), 7, "2026-04-05"),  // +13:45 → +12:45
        ("2026-04-04T14:00:00Z", "Pacific/Chatham", hm(2, 45), 7, "2026-04-05"),
        // Half- and quarter-hour offsets.
        ("2026-06-15T03:30:00Z", "Asia/Kolkata", hm(9, 0), 1, "2026-06-15"),
        ("2026-06-15T03:15:00Z", "Asia/Kathmandu", hm(9, 0), 1, "2026-06-15"),
        ("2026-06-15T23:30:00Z", "Australia/Adelaide", hm(9, 0), 2, "2026-06-16"),  // +09:30 (winter)
        ("2026-01-14T22:30:00Z", "Australia/Adelaide", hm(9, 0), 4, "2026-01-15"),  // +10:30 (summer)
        ("2026-06-14T20:15:00Z", "Pacific/Chatham", hm(9, 0), 1, "2026-06-15"),  // +12:45
        ("2026-01-14T19:15:00Z", "Pacific/Chatham", hm(9, 0), 4, "2026-01-15"),  // +13:45
        // The date line: one instant, two calendar days apart.
        ("2026-06-15T12:00:00Z", "Pacific/Kiritimati", hm(2, 0), 2, "2026-06-16"),
        ("2026-06-15T12:00:00Z", "Pacific/Pago_Pago", hm(1, 0), 1, "2026-06-15"),
        ("2026-06-19T10:30:00Z", "Pacific/Kiritimati", hm(0, 30), 6, "2026-06-20"),
        ("2026-06-19T10:30:00Z", "Pacific/Pago_Pago", hm(23, 30), 4, "2026-06-18"),
    ]

    @Test("wall clock across DST, odd offsets and the date line", arguments: Self.wallClocks)
    func wallClock(_ c: (String, String, Int, Int, String)) {
        let t = LocalTime(utc(c.0), zone(c.1))
        #expect(t.secondOfDay == c.2, "\(c.0) in \(c.1)")
        #expect(t.isoWeekday == c.3, "\(c.0) in \(c.1)")
        #expect(t.date == c.4, "\(c.0) in \(c.1)")
    }

    @Test("spring forward: the skipped hour is never inside; the clock jumps from 01:59:59 to 03:00")
    func springForward() {
        let ny = zone("America/New_York")
        let skipped = WorkingHours(startSecond: hm(2, 0), endSecond: hm(3, 0), isoWeekdays: everyDay)
        let afterJump = WorkingHours(startSecond: hm(3, 0), endSecond: hm(4, 0), isoWeekdays: everyDay)
        let beforeJump = WorkingHours(startSecond: hm(1, 0), endSecond: hm(2, 0), isoWeekdays: everyDay)
        // Every second from 06:58Z to 07:02Z (01:58 EST … 03:02 EDT).
        let start = utc("2026-03-08T06:58:00Z")
        for s in 0...240 {
            let t = start.addingTimeInterval(Double(s))
            #expect(!skipped.contains(t, in: ny), "\(t)")
            #expect(beforeJump.contains(t, in: ny) == (s < 120), "\(t)")
            #expect(afterJump.contains(t, in: ny) == (s >= 120), "\(t)")
        }
        let berlin = zone("Europe/Berlin")
        let nineToSix = WorkingHours(startSecond: hm(9, 0), endSecond: hm(18, 0), isoWeekdays: [7])
        // 09:00 CEST on the day of the change is 07:00Z, not 08:00Z.
        #expect(!nineToSix.contains(utc("2026-03-29T06:59:59Z"), in: berlin))
        #expect(nineToSix.contains(utc("2026-03-29T07:00:00Z"), in: berlin))
        #expect(nineToSix.contains(utc("2026-03-29T15:59:59Z"), in: berlin))
        #expect(!nineToSix.contains(utc("2026-03-29T16:00:00Z"), in: berlin))
        // In Berlin the skipped hour is 02:00–03:00 local.
        let berlinSkipped = WorkingHours(startSecond: hm(2, 0), endSecond: hm(3, 0), isoWeekdays: everyDay)
        let b0 = utc("2026-03-29T00:58:00Z")
        for s in 0...240 { #expect(!berlinSkipped.contains(b0.addingTimeInterval(Double(s)), in: berlin)) }
        #expect(berlinSkipped.contains(utc("2026-03-28T01:30:00Z"), in: berlin))  // the day before: 02:30 CET
    }

    @Test("fall back: the repeated hour is inside both times, the hour after it only once")
    func fallBack() {
        let ny = zone("America/New_York")
        let repeated = WorkingHours(startSecond: hm(1, 0), endSecond: hm(2, 0), isoWeekdays: [7])
        let next = WorkingHours(startSecond: hm(2, 0), endSecond: hm(3, 0), isoWeekdays: [7])
        // 04:30Z … 07:30Z in steps of 10 s: 00:30 EDT, 01:00–01:59:59 EDT, 01:00–01:59:59 EST, 02:00–02:30 EST.
        let start = utc("2026-11-01T04:30:00Z")
        for s in stride(from: 0, through: 3 * 3600, by: 10) {
            let t = start.addingTimeInterval(Double(s))
            let inRepeated = s >= 1800 && s < 1800 + 2 * 3600
            #expect(repeated.contains(t, in: ny) == inRepeated, "\(t)")
            #expect(next.contains(t, in: ny) == (s >= 1800 + 2 * 3600), "\(t)")
        }
        let berlin = zone("Europe/Berlin")
        let berlinRepeated = WorkingHours(startSecond: hm(2, 0), endSecond: hm(3, 0), isoWeekdays: [7])
        #expect(!berlinRepeated.contains(utc("2026-10-24T23:59:59Z"), in: berlin))
        #expect(berlinRepeated.contains(utc("2026-10-25T00:00:00Z"), in: berlin))  // 02:00 CEST
        #expect(berlinRepeated.contains(utc("2026-10-25T00:59:59Z"), in: berlin))  // 02:59:59 CEST
        #expect(berlinRepeated.contains(utc("2026-10-25T01:00:00Z"), in: berlin))  // 02:00 CET
        #expect(berlinRepeated.contains(utc("2026-10-25T01:59:59Z"), in: berlin))  // 02:59:59 CET
        #expect(!berlinRepeated.contains(utc("2026-10-25T02:00:00Z"), in: berlin))  // 03:00 CET
    }

    @Test("half-hour and 45-minute offsets move the window by those minutes")
    func oddOffsets() {
        let cases: [(String, String, String)] = [
            // zone, 08:59:59 local, 09:00 local (as UTC instants); all Mondays–Thursdays locally.
            ("Asia/Kolkata", "2026-06-15T03:29:59Z", "2026-06-15T03:30:00Z"),
            ("Asia/Kathmandu", "2026-06-15T03:14:59Z", "2026-06-15T03:15:00Z"),
            ("Australia/Adelaide", "2026-06-15T23:29:59Z", "2026-06-15T23:30:00Z"),
            ("Australia/Adelaide", "2026-01-14T22:29:59Z", "2026-01-14T22:30:00Z"),
            ("Pacific/Chatham", "2026-06-14T20:14:59Z", "2026-06-14T20:15:00Z"),
            ("Pacific/Chatham", "2026-01-14T19:14:59Z", "2026-01-14T19:15:00Z"),
        ]
        for (id, before, at) in cases {
            #expect(!self.nineToSix.contains(utc(before), in: zone(id)), "\(before) in \(id)")
            #expect(self.nineToSix.contains(utc(at), in: zone(id)), "\(at) in \(id)")
        }
        // And the end: 18:00 Kolkata is 12:30Z, 18:00 Kathmandu is 12:15Z.
        #expect(self.nineToSix.contains(utc("2026-06-15T12:29:59Z"), in: zone("Asia/Kolkata")))
        #expect(!self.nineToSix.contains(utc("2026-06-15T12:30:00Z"), in: zone("Asia/Kolkata")))
        #expect(self.nineToSix.contains(utc("2026-06-15T12:14:59Z"), in: zone("Asia/Kathmandu")))
        #expect(!self.nineToSix.contains(utc("2026-06-15T12:15:00Z"), in: zone("Asia/Kathmandu")))
    }

    @Test("both sides of the date line: the same instant is Saturday in Kiritimati and Thursday in Pago Pago")
    func dateLine() {
        let instant = utc("2026-06-19T10:30:00Z")
        let kiritimati = zone("Pacific/Kiritimati")
        let pagoPago = zone("Pacific/Pago_Pago")
        let weekend = WorkingHours(startSecond: 0, endSecond: 86_400, isoWeekdays: [6, 7])
        let workweek = WorkingHours(startSecond: 0, endSecond: 86_400, isoWeekdays: weekdays)
        #expect(weekend.contains(instant, in: kiritimati))
        #expect(!weekend.contains(instant, in: pagoPago))
        #expect(!workweek.contains(instant, in: kiritimati))
        #expect(workweek.contains(instant, in: pagoPago))
        // Local midnight in Kiritimati (10:00Z) starts Saturday there while Pago Pago is at 23:00 Thursday.
        let lateEvening = WorkingHours(startSecond: hm(22, 0), endSecond: 86_400, isoWeekdays: [4])
        #expect(lateEvening.contains(utc("2026-06-19T10:00:00Z"), in: pagoPago))
        #expect(!lateEvening.contains(utc("2026-06-19T10:00:00Z"), in: kiritimati))
        #expect(weekend.contains(utc("2026-06-19T10:00:00Z"), in: kiritimati))
        #expect(!weekend.contains(utc("2026-06-19T09:59:59.999Z"), in: kiritimati))  // Friday 23:59:59 there
    }
}

@Suite("EligibilityPolicy: rule order, cooldown, pre-dial verdict")
struct EligibilityPolicyRuleTests {
    /// 09:00–18:00 Monday–Friday; cooldown one hour.
    let policy = EligibilityPolicy(
        workingHours: WorkingHours(startSecond: hm(9, 0), endSecond: hm(18, 0), isoWeekdays: weekdays),
        cooldownSeconds: 3600)
    /// Monday 2026-06-15 12:00:00.25 UTC (inside hours in UTC, 03:00 Tuesday in Kiritimati: outside).
    let now = utc("2026-06-15T12:00:00.250Z")

    /// A customer who fails every rule at once.
    var failingEverything: EligibilityPolicy.Customer {
        EligibilityPolicy.Customer(
            status: .doNotCall, phone: "020 7946 0958", timeZone: zone("Pacific/Kiritimati"),
            lastCalledAt: self.now.addingTimeInterval(-60), hasOpenJob: true, hasTodaysJob: true)
    }

    @Test("the first failing rule wins: fixing them one by one walks the contract order")
    func ruleOrder() {
        var c = self.failingEverything
        #expect(self.policy.reason(c, now: self.now) == .notActive)
        c.status = .active
        #expect(self.policy.reason(c, now: self.now) == .invalidPhone)
        c.phone = "+442079460958"
        #expect(self.policy.reason(c, now: self.now) == .outsideWorkingHours)
        c.timeZone = zone("UTC")
        #expect(self.policy.reason(c, now: self.now) == .cooldown)
        c.lastCalledAt = nil
        #expect(self.policy.reason(c, now: self.now) == .openJob)
        c.hasOpenJob = false
        #expect(self.policy.reason(c, now: self.now) == .alreadyEnqueuedToday)
        c.hasTodaysJob = false
        #expect(self.policy.reason(c, now: self.now) == nil)
    }

    @Test("each rule alone names itself (and the cap is never a per-customer reason)")
    func eachRuleAlone() {
        let ok = EligibilityPolicy.Customer(
            status: .active, phone: "+442079460958", timeZone: zone("UTC"), lastCalledAt: nil)
        #expect(self.policy.reason(ok, now: self.now) == nil)
        var c = ok
        c.status = .optedOut
        #expect(self.policy.reason(c, now: self.now) == .notActive)
        c = ok
        c.phone = "+0442079460958"
        #expect(self.policy.reason(c, now: self.now) == .invalidPhone)
        c = ok
        c.timeZone = zone("Asia/Tokyo")  // 21:00 there
        #expect(self.policy.reason(c, now: self.now) == .outsideWorkingHours)
        c = ok
        c.lastCalledAt = self.now.addingTimeInterval(-1)
        #expect(self.policy.reason(c, now: self.now) == .cooldown)
        c = ok
        c.hasOpenJob = true
        #expect(self.policy.reason(c, now: self.now) == .openJob)
        c = ok
        c.hasTodaysJob = true
        #expect(self.policy.reason(c, now: self.now) == .alreadyEnqueuedToday)
    }

    @Test("every status but ACTIVE is not_active, before any other rule", arguments: CustomerStatus.allCases)
    func statuses(_ status: CustomerStatus) {
        var c = self.failingEverything
        c.status = status
        let r = self.policy.reason(c, now: self.now)
        #expect(status == .active ? r == .invalidPhone : r == .notActive)
    }

    @Test("the reasons' names are the contract's")
    func reasonNames() {
        #expect(
            EligibilityPolicy.Reason.allCases.map(\.rawValue) == [
                "not_active", "invalid_phone", "suppressed", "no_consent", "outside_working_hours", "jurisdiction_hours", "cooldown", "number_frequency", "open_job",
                "already_enqueued_today",
                "daily_cap",
            ])
    }

    @Test("cooldown: exactly the cooldown ago is eligible; a moment less is not")
    func cooldownBoundary() {
        var c = EligibilityPolicy.Customer(
            status: .active, phone: "+442079460958", timeZone: zone("UTC"), lastCalledAt: nil)
        c.lastCalledAt = self.now.addingTimeInterval(-3600)
        #expect(self.policy.reason(c, now: self.now) == nil)
        c.lastCalledAt = self.now.addingTimeInterval(-3600.001)
        #expect(self.policy.reason(c, now: self.now) == nil)
        c.lastCalledAt = self.now.addingTimeInterval(-3599.999)
        #expect(self.policy.reason(c, now: self.now) == .cooldown)
        c.lastCalledAt = self.now.addingTimeInterval(-3599)
        #expect(self.policy.reason(c, now: self.now) == .cooldown)
        c.lastCalledAt = self.now
        #expect(self.policy.reason(c, now: self.now) == .cooldown)
        // A cooldown of zero never holds a customer back for a call in the past (or now).
        let noCooldown = EligibilityPolicy(windows: self.policy.windows, cooldownSeconds: 0)
        c.lastCalledAt = self.now
        #expect(noCooldown.reason(c, now: self.now) == nil)
        c.lastCalledAt = self.now.addingTimeInterval(-86_400 * 365)
        #expect(noCooldown.reason(c, now: self.now) == nil)
        // One day, across a DST change: 24 h of elapsed time, not a wall-clock day.
        let day = EligibilityPolicy(
            workingHours: WorkingHours(startSecond: 0, endSecond: 86_400, isoWeekdays: everyDay),
            cooldownSeconds: 86_400)
        let ny = EligibilityPolicy.Customer(
            status: .active, phone: "+12125550100", timeZone: zone("America/New_York"),
            lastCalledAt: utc("2026-03-07T15:00:00Z"))  // 10:00 EST Saturday
        #expect(day.reason(ny, now: utc("2026-03-08T14:59:59Z")) == .cooldown)  // 10:59:59 EDT Sunday
        #expect(day.reason(ny, now: utc("2026-03-08T15:00:00Z")) == nil)  // 11:00 EDT, 24 h later
    }

    @Test("cooldown boundary holds at random instants and fractions")
    func cooldownBoundaryRandom() {
        var rng = SplitMix64(seed: 0xC001_D0E5)
        let open = EligibilityPolicy(
            workingHours: WorkingHours(startSecond: 0, endSecond: 86_400, isoWeekdays: everyDay), cooldownSeconds: 0)
        for _ in 0..<2000 {
            // Whole microseconds: the policy's resolution (PostgreSQL's).
            let now = Date(timeIntervalSince1970: 1_735_689_600 + Double.random(in: 0..<94_608_000, using: &rng))
                .flooredToMicroseconds
            let cooldown = [60, 3600, 86_400, 7 * 86_400][Int.random(in: 0..<4, using: &rng)]
            var p = open
            p.cooldownSeconds = cooldown
            var c = EligibilityPolicy.Customer(
                status: .active, phone: "+12125550100", timeZone: zone("UTC"),
                lastCalledAt: now.addingTimeInterval(-Double(cooldown)))
            #expect(p.reason(c, now: now) == nil, "exactly \(cooldown) s before \(now.timeIntervalSince1970)")
            c.lastCalledAt = now.addingTimeInterval(-Double(cooldown) + 0.001)
            #expect(p.reason(c, now: now) == .cooldown, "\(cooldown) s − 1 ms before \(now.timeIntervalSince1970)")
        }
    }

    /// The campaign's day for the cap: UTC here.
    var campaignZone: TimeZone { zone("UTC") }

    func verdict(_ c: EligibilityPolicy.Customer, attempt: Int, callsToday: Int, dailyCap: Int) -> JobStateMachine.DialVerdict {
        self.policy.dialVerdict(
            c, attempt: attempt, callsToday: callsToday, dailyCap: dailyCap, campaignTimeZone: self.campaignZone, now: self.now)
    }

    @Test("pre-dial: the open-job and today's-job rules do not apply (the job is the open one)")
    func dialIgnoresJobs() {
        let c = EligibilityPolicy.Customer(
            status: .active, phone: "+442079460958", timeZone: zone("UTC"), lastCalledAt: nil, hasOpenJob: true,
            hasTodaysJob: true)
        #expect(self.policy.reason(c, now: self.now) == .openJob)
        #expect(self.verdict(c, attempt: 1, callsToday: 0, dailyCap: 10) == .allowed)
        #expect(self.verdict(c, attempt: 3, callsToday: 9, dailyCap: 10) == .allowed)
    }

    @Test("pre-dial: the cooldown applies to the first attempt only, and defers the job to its end")
    func dialCooldownFirstAttemptOnly() {
        let c = EligibilityPolicy.Customer(
            status: .active, phone: "+442079460958", timeZone: zone("UTC"),
            lastCalledAt: self.now.addingTimeInterval(-10),
            hasOpenJob: true)
        // Called 10 s ago, a cooldown of an hour: due when it ends (12:59:50.25, inside the hours).
        #expect(
            self.verdict(c, attempt: 1, callsToday: 0, dailyCap: 10)
                == .deferred(rule: "cooldown", until: utc("2026-06-15T12:59:50.250Z")))
        #expect(self.verdict(c, attempt: 2, callsToday: 0, dailyCap: 10) == .allowed)
        #expect(self.verdict(c, attempt: 5, callsToday: 0, dailyCap: 10) == .allowed)
        var exactly = c
        exactly.lastCalledAt = self.now.addingTimeInterval(-3600)
        #expect(self.verdict(exactly, attempt: 1, callsToday: 0, dailyCap: 10) == .allowed)
        // A cooldown that ends after hours waits for the next opening.
        exactly.lastCalledAt = utc("2026-06-15T17:30:00Z")
        #expect(
            self.policy.dialVerdict(
                exactly, attempt: 1, callsToday: 0, dailyCap: 10, campaignTimeZone: self.campaignZone,
                now: utc("2026-06-15T17:45:00Z"))
                == .deferred(rule: "cooldown", until: utc("2026-06-16T09:00:00Z")))
    }

    @Test("pre-dial: the daily cap defers to the next campaign day's first opening when callsToday >= dailyCap")
    func dialDailyCap() {
        let c = EligibilityPolicy.Customer(
            status: .active, phone: "+442079460958", timeZone: zone("UTC"), lastCalledAt: nil)
        let tomorrow = JobStateMachine.DialVerdict.deferred(rule: "daily_cap", until: utc("2026-06-16T09:00:00Z"))
        #expect(self.verdict(c, attempt: 1, callsToday: 9, dailyCap: 10) == .allowed)
        #expect(self.verdict(c, attempt: 1, callsToday: 10, dailyCap: 10) == tomorrow)
        #expect(self.verdict(c, attempt: 2, callsToday: 11, dailyCap: 10) == tomorrow)
        #expect(self.verdict(c, attempt: 1, callsToday: 0, dailyCap: 0) == tomorrow)
        // The campaign's day, not the customer's: a New York campaign's next day starts at 04:00Z.
        let ny = self.policy.dialVerdict(
            c, attempt: 1, callsToday: 10, dailyCap: 10, campaignTimeZone: zone("America/New_York"),
            now: utc("2026-06-15T12:00:00Z"))
        #expect(ny == .deferred(rule: "daily_cap", until: utc("2026-06-16T09:00:00Z")))
        let late = self.policy.dialVerdict(
            c, attempt: 1, callsToday: 10, dailyCap: 10, campaignTimeZone: zone("Pacific/Kiritimati"),
            now: utc("2026-06-15T12:00:00Z"))  // Kiritimati's next day starts at 10:00Z, inside the hours
        #expect(late == .deferred(rule: "daily_cap", until: utc("2026-06-16T10:00:00Z")))
    }

    @Test("pre-dial: outside the working hours defers to the next opening on the customer's wall clock")
    func dialOutsideHoursDefers() {
        let ny = EligibilityPolicy.Customer(
            status: .active, phone: "+12125550100", timeZone: zone("America/New_York"), lastCalledAt: nil)
        // Friday 2026-03-06 19:00 EST → Monday 09:00, which is EDT after Sunday's change (13:00Z).
        #expect(
            self.policy.dialVerdict(
                ny, attempt: 2, callsToday: 0, dailyCap: 10, campaignTimeZone: self.campaignZone,
                now: utc("2026-03-07T00:00:00Z"))
                == .deferred(rule: "outside_working_hours", until: utc("2026-03-09T13:00:00Z")))
        // Working hours that never open refuse.
        let never = EligibilityPolicy(
            workingHours: WorkingHours(startSecond: 0, endSecond: 3600, isoWeekdays: []), cooldownSeconds: 0)
        #expect(
            never.dialVerdict(ny, attempt: 1, callsToday: 0, dailyCap: 10, campaignTimeZone: self.campaignZone, now: self.now)
                == .refused(rule: "outside_working_hours"))
    }

    @Test("pre-dial: rules waiting will not change refuse, in the contract order; the others defer until all pass")
    func dialRuleOrder() {
        var c = self.failingEverything
        func verdict(attempt: Int = 1) -> JobStateMachine.DialVerdict {
            self.verdict(c, attempt: attempt, callsToday: 10, dailyCap: 10)
        }
        #expect(verdict() == .refused(rule: "not_active"))
        #expect(verdict(attempt: 2) == .refused(rule: "not_active"))
        c.status = .active
        #expect(verdict(attempt: 2) == .refused(rule: "invalid_phone"))
        c.phone = "+442079460958"
        // Kiritimati (UTC+14), 02:00 Tuesday: the cap's next day (00:00Z) is 14:00 there, inside.
        #expect(verdict(attempt: 2) == .deferred(rule: "outside_working_hours", until: utc("2026-06-16T00:00:00Z")))
        c.timeZone = zone("Europe/London")  // 13:00 BST: the cooldown, then the cap's next day at 01:00 BST → 09:00 BST
        #expect(verdict() == .deferred(rule: "cooldown", until: utc("2026-06-16T08:00:00Z")))
        #expect(verdict(attempt: 2) == .deferred(rule: "daily_cap", until: utc("2026-06-16T08:00:00Z")))
        c.lastCalledAt = nil
        #expect(verdict() == .deferred(rule: "daily_cap", until: utc("2026-06-16T08:00:00Z")))
    }
}

@Suite("EligibilityPolicy: the suppression list and consent")
struct SuppressionAndConsentRuleTests {
    static let always = CallingWindows(windows: [.init(isoWeekdays: Set(1...7), startSecond: 0, endSecond: 86_400)])
    static let utc = TimeZone(identifier: "UTC")!

    @Test func aSuppressedNumberAndAMissingConsentRefuseAtOnceInContractOrder() {
        let now = Date(timeIntervalSince1970: 1_796_212_800)
        var c = EligibilityPolicy.Customer(status: .active, phone: "+442079460001", timeZone: Self.utc, lastCalledAt: nil)
        let consenting = EligibilityPolicy(windows: Self.always, cooldownSeconds: 0, requireConsent: true)
        let lax = EligibilityPolicy(windows: Self.always, cooldownSeconds: 0)
        func verdict(_ p: EligibilityPolicy) -> JobStateMachine.DialVerdict {
            p.dialVerdict(c, attempt: 1, callsToday: 0, dailyCap: 10, campaignTimeZone: Self.utc, now: now)
        }
        #expect(lax.reason(c, now: now) == nil)
        #expect(consenting.reason(c, now: now) == .noConsent)
        #expect(verdict(consenting) == .refused(rule: "no_consent"))
        c.hasConsent = true
        #expect(consenting.reason(c, now: now) == nil && verdict(consenting) == .allowed)
        // Suppressed comes before consent and every rule of time; not before the status.
        c.suppressed = true
        c.hasConsent = false
        c.numberFreeAt = now.addingTimeInterval(3600)
        #expect(consenting.reason(c, now: now) == .suppressed)
        #expect(verdict(lax) == .refused(rule: "suppressed"))
        c.status = .optedOut
        #expect(lax.reason(c, now: now) == .notActive)
        #expect(EligibilityPolicy.Reason.waitingDoesNotHelp == [.notActive, .invalidPhone, .suppressed, .noConsent])
    }
}
