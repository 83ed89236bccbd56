import Foundation

/// RFC 3339 times as the wire carries them: parsed with or without fractional seconds, written
/// in UTC with milliseconds. Shared by the coordinator and the agent.
///
/// Written by hand on purpose: `ISO8601DateFormatter` builds an ICU date formatter on Linux,
/// and one parse or format cost ~40 µs — about half of each daemon's CPU on the dispatch path
/// (issue 11's profile). This is pure arithmetic on the bytes (days from civil dates, after
/// Howard Hinnant's `days_from_civil`), a few hundred nanoseconds.
public enum Timestamp {
    /// The instant of an RFC 3339 date-time with a zone (`2026-11-29T10:15:00Z`,
    /// `2026-11-29T11:15:00.25+01:00`), nil for anything else.
    ///
    /// Strict: `T`/`t` between date and time, `Z`/`z` or `±HH:MM`, 1…9 fraction digits,
    /// years 0001…9999, real calendar dates, hours 00…23, minutes and seconds 00…59 (no leap
    /// second) — every value accepted is one PostgreSQL's `timestamptz` accepts as the same instant.
    public static func parse(_ s: String) -> Date? {
        var s = s
        return s.withUTF8 { Self.parse(bytes: $0) }
    }

    static func parse(bytes b: UnsafeBufferPointer<UInt8>) -> Date? {
        guard b.count >= 20, b.count <= 40 else { return nil }
        func digits(_ at: Int, _ n: Int) -> Int? {
            var v = 0
            for i in at..<(at + n) {
                let d = Int(b[i]) &- 48
                guard d >= 0, d <= 9 else { return nil }
                v = v * 10 + d
            }
            return v
        }
        guard let year = digits(0, 4), b[4] == UInt8(ascii: "-"), let month = digits(5, 2), b[7] == UInt8(ascii: "-"),
            let day = digits(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
            let hour = digits(11, 2), b[13] == UInt8(ascii: ":"), let minute = digits(14, 2),
            b[16] == UInt8(ascii: ":"), let second = digits(17, 2)
        else { return nil }
        guard year >= 1, (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year),
            hour <= 23, minute <= 59, second <= 59
        else { return nil }
        var i = 19
        var nanos = 0
        if b[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
                if i - start < 9 { nanos = nanos * 10 + Int(b[i] - 48) }
                i += 1
            }
            let n = i - start
            guard n >= 1, n <= 9 else { return nil }
            for _ in n..<9 { nanos *= 10 }
        }
        guard i < b.count else { return nil }
        var offsetSeconds = 0
        switch b[i] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard i + 1 == b.count else { return nil }
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard i + 6 == b.count, let oh = digits(i + 1, 2), b[i + 3] == UInt8(ascii: ":"), let om = digits(i + 4, 2),
                oh <= 23, om <= 59
            else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (b[i] == UInt8(ascii: "-") ? -1 : 1)
        default:
            return nil
        }
        let days = Self.daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + Double(nanos) / 1e9)
    }

    /// `2026-11-29T10:15:00.250Z` (UTC, milliseconds, truncated).
    public static func string(_ date: Date) -> String {
        // To the nearest microsecond first: a Double of seconds holds `.087` as `.0869999…`.
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let totalMs = micros >= 0 ? micros / 1000 : (micros - 999) / 1000
        var days = totalMs / 86_400_000
        var msOfDay = totalMs % 86_400_000
        if msOfDay < 0 {
            msOfDay += 86_400_000
            days -= 1
        }
        let (y, m, d) = Self.civilFromDays(Int(days))
        let ms = Int(msOfDay)
        return String(unsafeUninitializedCapacity: 24) { out in
            func put(_ v: Int, _ at: Int, _ n: Int) {
                var v = v
                for k in stride(from: at + n - 1, through: at, by: -1) {
                    out[k] = UInt8(48 + v % 10)
                    v /= 10
                }
            }
            put(y, 0, 4)
            out[4] = UInt8(ascii: "-")
            put(m, 5, 2)
            out[7] = UInt8(ascii: "-")
            put(d, 8, 2)
            out[10] = UInt8(ascii: "T")
            put(ms / 3_600_000, 11, 2)
            out[13] = UInt8(ascii: ":")
            put(ms / 60_000 % 60, 14, 2)
            out[16] = UInt8(ascii: ":")
            put(ms / 1000 % 60, 17, 2)
            out[19] = UInt8(ascii: ".")
            put(ms % 1000, 20, 3)
            out[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    static func isLeap(_ y: Int) -> Bool { y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return Self.isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a day count since 1970-01-01.
    static func civilFromDays(_ z: Int) -> (year: Int, month: Int, day: Int) {
        let z = z + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
