import CampaignCore
import CampaignStore
import CampaignTestSupport
import Foundation
import Testing

// The calling windows twice: `CallingWindows` in Swift (the reference) and the SQL functions
// `campaign.in_window` and `campaign.next_opening` (migration 0007). Random windows (several a
// day, some starting in the small hours where clocks change) and blackout dates, at random
// instants and within hours of every 2026 clock change of zones with half- and quarter-hour
// offsets, midnight changes and both sides of the date line: both must say the same, to the
// microsecond. The seed is random per run and printed with every failure; set WINDOWS_SEED to
// replay one.

/// Zones whose rules have been stable for years (Foundation's ICU data and PostgreSQL's tzdata agree).
private let windowZones = [
    "America/New_York", "Europe/London", "Europe/Berlin", "Europe/Dublin", "Australia/Sydney", "America/Santiago",
    "Pacific/Auckland", "America/Havana", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide", "Pacific/Chatham",
    "America/St_Johns", "Australia/Lord_Howe", "Pacific/Kiritimati", "Pacific/Tongatapu", "Pacific/Pago_Pago",
    "Pacific/Apia", "Pacific/Honolulu", "UTC", "Asia/Tokyo", "Etc/GMT+12", "Etc/GMT-14", "US/Pacific",
]

private func epochSeconds(_ text: String) -> Double { ISO8601DateFormatter().date(from: text)!.timeIntervalSince1970 }

/// Whole microseconds since 1970 of an instant, as PostgreSQL holds it.
private func micros(_ d: Date) -> Int64 {
    Int64((d.timeIntervalSinceReferenceDate * 1_000_000).rounded()) + 978_307_200_000_000
}

struct WindowCase {
    var zone: String
    var at: Date
    var windows: CallingWindows
    var label: String

    var json: [String: Any] {
        let sorted = self.windows.windows
        return [
            "tz": self.zone, "at_us": String(micros(self.at.flooredToMicroseconds)),
            "starts": sorted.map(\.startSecond), "ends": sorted.map(\.endSecond), "masks": sorted.map(\.weekdayMask),
            "blackout": self.windows.blackoutDays.sorted().map {
                LocalTime(Date(timeIntervalSince1970: Double($0) * 86_400), TimeZone(identifier: "UTC")!).date
            },
        ]
    }
}

@Suite("Calling windows: the SQL functions and the Swift reference agree")
struct WindowEquivalenceTests {
    static func seed() -> UInt64 {
        if let text = ProcessInfo.processInfo.environment["WINDOWS_SEED"], let s = UInt64(text) { return s }
        return UInt64.random(in: 0...UInt64.max)
    }

    /// One to four windows: whole minutes anywhere in the day, or in the small hours where clocks
    /// change (00:00–03:30, some ending inside the skipped hour); a blackout date or two around `near`.
    static func windows(_ rng: inout SplitMix64, near day: Int64) -> CallingWindows {
        var out: [CallingWindows.Window] = []
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            var days = Set((1...7).filter { _ in Int.random(in: 0..<3, using: &rng) > 0 })
            if days.isEmpty { days = [Int.random(in: 1...7, using: &rng)] }
            let start: Int
            let end: Int
            if Bool.random(using: &rng) {
                start = Int.random(in: 0...210, using: &rng) / 15 * 15
                end = min(24 * 60, start + [15, 30, 45, 60, 90, 180, 600][Int.random(in: 0..<7, using: &rng)])
            } else {
                start = Int.random(in: 0..<(24 * 60 - 1), using: &rng)
                end = Int.random(in: (start + 1)...(24 * 60), using: &rng)
            }
            out.append(.init(isoWeekdays: days, startSecond: start * 60, endSecond: end * 60))
        }
        let blackout = Set((0..<Int.random(in: 0...2, using: &rng)).map { _ in day + Int64.random(in: -1...3, using: &rng) })
        return CallingWindows(windows: out, blackoutDays: blackout)
    }

    static func cases(_ rng: inout SplitMix64) -> [WindowCase] {
        var out: [WindowCase] = []
        let start = epochSeconds("2026-01-01T00:00:00Z")
        let end = epochSeconds("2027-01-01T00:00:00Z")
        for id in windowZones {
            let zone = TimeZone(identifier: id)!
            var instants: [(String, Double)] = []
            // Within three hours of each 2026 clock change (whole minutes, seconds, or microseconds off).
            var t = Date(timeIntervalSince1970: start)
            while let next = zone.nextDaylightSavingTimeTransition(after: t), next.timeIntervalSince1970 < end {
                for _ in 0..<16 {
                    let off = Double(Int.random(in: -10_800_000_000...10_800_000_000, using: &rng)) / 1_000_000
                    instants.append(("near the change at \(next)", next.timeIntervalSince1970 + off))
                }
                instants.append(("exactly the change at \(next)", next.timeIntervalSince1970))
                t = next
            }
            for _ in 0..<40 {
                instants.append(("random", start + Double(Int.random(in: 0..<(365 * 86_400_000_000), using: &rng)) / 1_000_000))
            }
            for (label, seconds) in instants {
                let at = Date(timeIntervalSince1970: seconds)
                let day = LocalTime(at, zone).day
                out.append(WindowCase(zone: id, at: at, windows: Self.windows(&rng, near: day), label: label))
            }
        }
        return out
    }

    @Test func sqlAndSwiftAgreeOnInsideAndOnTheNextOpening() async throws {
        let (db, _) = try await TestDatabase.migrated("windows")
        defer { db.drop() }
        let seed = Self.seed()
        var rng = SplitMix64(seed: seed)
        let cases = Self.cases(&rng)
        let payload = String(decoding: try JSONSerialization.data(withJSONObject: cases.map(\.json)), as: UTF8.self)
        // Both sides off the cooperative pool (blocking libpq, then a CPU-bound loop).
        let sql: [(inside: Bool, next: Int64?)] = try await blocking {
            let rows = try db.connect().query(unsafeSQL:
                """
                SELECT e.i, campaign.in_window(t.at, t.tz, t.starts, t.ends, t.masks, t.blackout) AS inside,
                       (extract(epoch FROM campaign.next_opening(t.at, t.tz, t.starts, t.ends, t.masks, t.blackout))
                        * 1000000)::bigint AS next_us
                FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(c, i)
                CROSS JOIN LATERAL (
                    SELECT 'epoch'::timestamptz + (c ->> 'at_us')::bigint * interval '1 microsecond' AS at, c ->> 'tz' AS tz,
                           ARRAY(SELECT x::int FROM jsonb_array_elements_text(c -> 'starts') WITH ORDINALITY a(x, n) ORDER BY n) AS starts,
                           ARRAY(SELECT x::int FROM jsonb_array_elements_text(c -> 'ends') WITH ORDINALITY a(x, n) ORDER BY n) AS ends,
                           ARRAY(SELECT x::int FROM jsonb_array_elements_text(c -> 'masks') WITH ORDINALITY a(x, n) ORDER BY n) AS masks,
                           ARRAY(SELECT x::date FROM jsonb_array_elements_text(c -> 'blackout') AS a(x)) AS blackout
                ) t
                ORDER BY e.i
                """, [payload])
            return try rows.all.map { r in (r.bool("inside"), r["next_us"].flatMap { Int64($0) }) }
        }
        #expect(sql.count == cases.count)
        let (mismatches, inside, deferred, changes) = await blocking { () -> ([String], Int, Int, Int) in
            var mismatches: [String] = []
            var inside = 0
            var deferred = 0
            var changes = 0
            for (c, q) in zip(cases, sql) {
                let zone = TimeZone(identifier: c.zone)!
                let swiftInside = c.windows.contains(c.at, in: zone)
                let swiftNext = c.windows.nextOpening(after: c.at, in: zone).map(micros)
                if swiftInside { inside += 1 } else if swiftNext != nil { deferred += 1 }
                if c.label != "random" { changes += 1 }
                if swiftInside != q.inside || swiftNext != q.next {
                    mismatches.append(
                        "\(c.zone) at \(c.at) [\(c.label)] windows \(c.windows.windows.map { "\($0.isoWeekdays.sorted()) \($0.startSecond)–\($0.endSecond)" }) "
                            + "blackout \(c.windows.blackoutDays.sorted()): inside sql=\(q.inside) swift=\(swiftInside); "
                            + "next sql=\(q.next.map { String($0) } ?? "nil") swift=\(swiftNext.map { String($0) } ?? "nil")")
                }
            }
            return (mismatches, inside, deferred, changes)
        }
        print("window equivalence: seed \(seed): \(cases.count) cases (\(changes) near clock changes), \(inside) inside, \(deferred) deferred, \(mismatches.count) mismatches")
        #expect(mismatches.isEmpty, "seed \(seed) (WINDOWS_SEED=\(seed) to replay): \(mismatches.count) of \(cases.count) disagree:\n\(mismatches.prefix(10).joined(separator: "\n"))")
        // Both answers are exercised, or the comparison proves little.
        #expect(inside > cases.count / 20 && deferred > cases.count / 4, "inside \(inside), deferred \(deferred)")
    }
}
