import CampaignCore
import Foundation
import Testing

/// Several calling windows a day, blackout dates, and the next opening on the customer's wall
/// clock, as a pure value. (The SQL functions of the same rules are held to these in
/// `WindowEquivalenceTests`.)
@Suite("Calling windows")
struct CallingWindowsTests {
    static let ny = TimeZone(identifier: "America/New_York")!
    static let weekdays: Set<Int> = [1, 2, 3, 4, 5]
    /// 09:00–12:00 and 14:00–19:00 on weekdays, 10:00–13:00 on Saturday.
    static let split = CallingWindows(windows: [
        .init(isoWeekdays: weekdays, startSecond: 9 * 3600, endSecond: 12 * 3600),
        .init(isoWeekdays: weekdays, startSecond: 14 * 3600, endSecond: 19 * 3600),
        .init(isoWeekdays: [6], startSecond: 10 * 3600, endSecond: 13 * 3600),
    ])

    static func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    @Test("inside any window of the day, on the customer's wall clock; blackout dates have none")
    func containsAnyWindowOfTheDay() {
        let w = Self.split
        // 2026-12-01 is a Tuesday; New York is UTC−5 in December.
        #expect(w.contains(Self.utc("2026-12-01T14:00:00Z"), in: Self.ny))  // 09:00, first window opens
        #expect(!w.contains(Self.utc("2026-12-01T17:00:00Z"), in: Self.ny))  // 12:00, the break (end exclusive)
        #expect(!w.contains(Self.utc("2026-12-01T18:59:59Z"), in: Self.ny))  // 13:59:59
        #expect(w.contains(Self.utc("2026-12-01T19:00:00Z"), in: Self.ny))  // 14:00
        #expect(!w.contains(Self.utc("2026-12-02T00:00:00Z"), in: Self.ny))  // 19:00
        #expect(w.contains(Self.utc("2026-12-05T15:30:00Z"), in: Self.ny))  // Saturday 10:30
        #expect(!w.contains(Self.utc("2026-12-05T19:00:00Z"), in: Self.ny))  // Saturday 14:00
        #expect(!w.contains(Self.utc("2026-12-06T15:30:00Z"), in: Self.ny))  // Sunday
        var blackout = w
        blackout.blackoutDays = [LocalTime.day(of: "2026-12-01")!]
        #expect(!blackout.contains(Self.utc("2026-12-01T14:00:00Z"), in: Self.ny))
        #expect(blackout.contains(Self.utc("2026-12-02T14:00:00Z"), in: Self.ny))
        // The old single window reads the same as before.
        let hours = WorkingHours(startSecond: 9 * 3600, endSecond: 18 * 3600, isoWeekdays: Self.weekdays)
        for minutes in stride(from: 0, to: 7 * 24 * 60, by: 7) {
            let t = Self.utc("2026-11-30T00:00:00Z").addingTimeInterval(Double(minutes * 60))
            #expect(CallingWindows(hours).contains(t, in: Self.ny) == hours.contains(t, in: Self.ny))
        }
    }

    @Test("the next opening: now when inside, the break's end, the next weekday, past blackout dates")
    func nextOpeningExamples() {
        let w = Self.split
        let at = { (t: String) in w.nextOpening(after: Self.utc(t), in: Self.ny) }
        #expect(at("2026-12-01T15:00:00Z") == Self.utc("2026-12-01T15:00:00Z"))  // 10:00: inside
        #expect(at("2026-12-01T17:30:00Z") == Self.utc("2026-12-01T19:00:00Z"))  // 12:30 → 14:00
        #expect(at("2026-12-02T00:00:00Z") == Self.utc("2026-12-02T14:00:00Z"))  // 19:00 → 09:00 tomorrow
        #expect(at("2026-12-05T02:00:00Z") == Self.utc("2026-12-05T15:00:00Z"))  // Friday 21:00 → Saturday 10:00
        #expect(at("2026-12-05T19:00:00Z") == Self.utc("2026-12-07T14:00:00Z"))  // Saturday 14:00 → Monday 09:00
        var blackout = w
        blackout.blackoutDays = Set(["2026-12-24", "2026-12-25"].map { LocalTime.day(of: $0)! })
        #expect(blackout.nextOpening(after: Self.utc("2026-12-24T01:00:00Z"), in: Self.ny) == Self.utc("2026-12-26T15:00:00Z"))
        // No window at all, or only blackout dates within the horizon: never.
        #expect(CallingWindows(windows: []).nextOpening(after: Self.utc("2026-12-01T00:00:00Z"), in: Self.ny) == nil)
        let sundays = CallingWindows(windows: [.init(isoWeekdays: [7], startSecond: 0, endSecond: 86_400)])
        #expect(sundays.nextOpening(after: Self.utc("2026-12-01T12:00:00Z"), in: Self.ny) == Self.utc("2026-12-06T05:00:00Z"))
    }

    @Test("local times a clock change skips or repeats become instants as PostgreSQL makes them")
    func localTimesAcrossClockChanges() {
        let instant = { (local: String, zone: String) -> Date in
            let day = LocalTime.day(of: String(local.prefix(10)))!
            let parts = local.dropFirst(11).split(separator: ":").map { Int64($0)! }
            return LocalTime.instant(localSeconds: day * 86_400 + parts[0] * 3600 + parts[1] * 60, in: TimeZone(identifier: zone)!)
        }
        // Skipped (02:00 → 03:00): the offset before, UTC−5 (PostgreSQL: 03:30 EDT).
        #expect(instant("2026-03-08 02:30", "America/New_York") == Self.utc("2026-03-08T07:30:00Z"))
        // Repeated (02:00 → 01:00): the later one, EST.
        #expect(instant("2026-11-01 01:30", "America/New_York") == Self.utc("2026-11-01T06:30:00Z"))
        // Ordinary times on either side.
        #expect(instant("2026-03-08 01:59", "America/New_York") == Self.utc("2026-03-08T06:59:00Z"))
        #expect(instant("2026-03-08 03:00", "America/New_York") == Self.utc("2026-03-08T07:00:00Z"))
        // Lord Howe moves by half an hour (02:00 → 02:30 on 2026-10-04; +10:30 before).
        #expect(instant("2026-10-04 02:15", "Australia/Lord_Howe") == Self.utc("2026-10-03T15:45:00Z"))
        // Kathmandu, +05:45 all year.
        #expect(instant("2026-07-01 09:00", "Asia/Kathmandu") == Self.utc("2026-07-01T03:15:00Z"))
    }

    @Test("a window starting in a skipped hour opens when the clock lands in it; one inside the hour does not open")
    func windowsAroundASpringForward() {
        let early = CallingWindows(windows: [.init(isoWeekdays: Set(1...7), startSecond: 2 * 3600, endSecond: 4 * 3600)])
        // 2026-03-08, New York: 02:00 does not exist; read at −5 it is 07:00Z, 03:00 EDT, inside.
        #expect(early.nextOpening(after: Self.utc("2026-03-08T05:00:00Z"), in: Self.ny) == Self.utc("2026-03-08T07:00:00Z"))
        let inside = CallingWindows(windows: [.init(isoWeekdays: Set(1...7), startSecond: 2 * 3600 + 900, endSecond: 2 * 3600 + 2700)])
        // 02:15–02:45 never happens that day: the next day's 02:15 EDT.
        #expect(inside.nextOpening(after: Self.utc("2026-03-08T05:00:00Z"), in: Self.ny) == Self.utc("2026-03-09T06:15:00Z"))
    }

    @Test("every opening is inside a window and not before the asking instant, in every zone")
    func openingsAreInsideWindowsEverywhere() {
        var rng = SplitMix64(seed: 0x5EED_CA11)
        let zones = TimeZone.knownTimeZoneIdentifiers.compactMap(TimeZone.init(identifier:))
        let base = Self.utc("2026-01-01T00:00:00Z").timeIntervalSince1970
        for zone in zones {
            for _ in 0..<6 {
                let w = Self.randomWindows(&rng)
                let at = Date(timeIntervalSince1970: base + Double(Int.random(in: 0..<(365 * 86_400), using: &rng)) + 0.25)
                guard let opening = w.nextOpening(after: at, in: zone) else {
                    Issue.record("\(zone.identifier): no opening for \(w) after \(at)")
                    continue
                }
                #expect(opening >= at.flooredToMicroseconds, "\(zone.identifier) \(at)")
                #expect(w.contains(opening, in: zone), "\(zone.identifier): \(opening) is not inside \(w)")
            }
        }
    }

    @Test("without clock changes the opening is the first minute inside a window (brute force)")
    func openingIsTheFirstInsideWhereClocksDoNotChange() {
        var rng = SplitMix64(seed: 0xB207E)
        let base = Self.utc("2026-05-01T00:00:00Z").timeIntervalSince1970
        for id in ["UTC", "Asia/Kathmandu", "Asia/Kolkata", "Pacific/Kiritimati", "Pacific/Chatham", "America/Phoenix"] {
            let zone = TimeZone(identifier: id)!
            for _ in 0..<40 {
                var w = Self.randomWindows(&rng)
                w.blackoutDays = []
                // Whole minutes, so that the first inside minute is the opening itself.
                let at = Date(timeIntervalSince1970: base + Double(Int.random(in: 0..<(60 * 24 * 60), using: &rng) * 60))
                guard let opening = w.nextOpening(after: at, in: zone) else {
                    Issue.record("\(id): no opening")
                    continue
                }
                var t = at
                while !w.contains(t, in: zone) && t < opening { t = t.addingTimeInterval(60) }
                #expect(t == opening, "\(id): first inside minute \(t), opening \(opening), windows \(w)")
            }
        }
    }

    @Test("dates: YYYY-MM-DD and back; what is not a date is refused")
    func dates() {
        for day in stride(from: Int64(-719_162), to: 2_932_897, by: 997) {  // 0001-01-01 … 9999-12-31
            let local = LocalTime(Date(timeIntervalSince1970: Double(day) * 86_400), TimeZone(identifier: "UTC")!)
            #expect(LocalTime.day(of: local.date) == day, "\(local.date)")
            #expect(LocalTime.isoWeekday(ofDay: day) == local.isoWeekday)
        }
        for bad in ["2026-02-30", "2026-13-01", "2026-1-01", "26-01-01", "2026/01/01", "2026-01-01T", "", "２０２６-01-01"] {
            #expect(LocalTime.day(of: bad) == nil, "\(bad)")
        }
        #expect(LocalTime.day(of: "2024-02-29") != nil && LocalTime.day(of: "2026-02-29") == nil)
    }

    /// One to four windows of whole minutes, on random weekdays, and a blackout date or two.
    static func randomWindows(_ rng: inout SplitMix64) -> CallingWindows {
        var windows: [CallingWindows.Window] = []
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            var days = Set((1...7).filter { _ in Bool.random(using: &rng) })
            if days.isEmpty { days = [Int.random(in: 1...7, using: &rng)] }
            let start = Int.random(in: 0..<(24 * 60 - 1), using: &rng)
            let end = Int.random(in: (start + 1)...(24 * 60), using: &rng)
            windows.append(.init(isoWeekdays: days, startSecond: start * 60, endSecond: end * 60))
        }
        let base = LocalTime.day(of: "2026-01-01")!
        let blackout = Set((0..<Int.random(in: 0...2, using: &rng)).map { _ in base + Int64.random(in: 0..<400, using: &rng) })
        return CallingWindows(windows: windows, blackoutDays: blackout)
    }
}
