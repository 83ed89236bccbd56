import CampaignCore
import CampaignProtocol
import Foundation
import Testing

/// The hand-written RFC 3339 parser and formatter, held to Foundation's ISO 8601 formatter (the
/// implementation it replaced) on random instants, and to the grammar on edge cases.
///
/// Sizes are kept small on purpose: these tests run synchronously on Swift's cooperative pool
/// (two threads here), and Foundation's formatter costs ~40 µs a call — tens of thousands of
/// them held the pool for seconds and starved the in-process coordinators of other tests.
@Suite("Timestamp")
struct TimestampTests {
    private static func reference() -> ISO8601DateFormatter {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f
    }

    @Test func formatsLikeFoundationOnRandomInstants() {
        let f = Self.reference()
        var rng = SplitMix64(seed: 11)
        for _ in 0..<2_000 {
            // 1901…2199, whole milliseconds (the wire's precision).
            let ms = Int64.random(in: -2_177_452_800_000...7_258_118_400_000, using: &rng)
            let date = Date(timeIntervalSince1970: Double(ms) / 1000)
            #expect(Timestamp.string(date) == f.string(from: date), "\(ms)")
        }
    }

    @Test func roundTripsToTheMillisecond() {
        var rng = SplitMix64(seed: 12)
        for _ in 0..<5_000 {
            let ms = Int64.random(in: 0...4_102_444_800_000, using: &rng)
            let s = Timestamp.string(Date(timeIntervalSince1970: Double(ms) / 1000))
            let back = Timestamp.parse(s).map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
            #expect(back == ms, "\(s)")
        }
    }

    @Test func parsesOffsetsAndFractionsLikeFoundation() {
        let f = Self.reference()
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        var rng = SplitMix64(seed: 13)
        for _ in 0..<1_000 {
            let seconds = Int64.random(in: 0...4_102_444_800, using: &rng)
            let offsetMinutes = Int.random(in: -(14 * 60)...(14 * 60), using: &rng) / 15 * 15
            let local = Date(timeIntervalSince1970: Double(seconds) + Double(offsetMinutes * 60))
            var text = String(f.string(from: local).prefix(19))  // local wall time, no fraction
            let fraction = Int.random(in: 0...3, using: &rng)
            let fractionDigits = (0..<fraction).map { _ in String(Int.random(in: 0...9, using: &rng)) }.joined()
            if fraction > 0 { text += "." + fractionDigits }
            let sign = offsetMinutes < 0 ? "-" : "+"
            let a = abs(offsetMinutes)
            text += offsetMinutes == 0 && fraction % 2 == 0 ? "Z" : String(format: "%@%02d:%02d", sign, a / 60, a % 60)
            let ours = Timestamp.parse(text)
            let expected = Double(seconds) + (fraction > 0 ? Double("0." + fractionDigits)! : 0)
            #expect(ours.map { abs($0.timeIntervalSince1970 - expected) < 1e-6 } == true, "\(text)")
            let theirs = fraction > 0 ? f.date(from: text) : plain.date(from: text)
            if let theirs { #expect(abs(theirs.timeIntervalSince1970 - expected) < 0.001, "\(text)") }
        }
    }

    @Test(arguments: [
        ("2026-11-29T10:15:00Z", 1_795_947_300.0),
        ("2026-11-29t10:15:00z", 1_795_947_300.0),
        ("2026-11-29T11:15:00+01:00", 1_795_947_300.0),
        ("2026-11-29T05:00:00-05:15", 1_795_947_300.0),
        ("2026-11-29T10:15:00.5Z", 1_795_947_300.5),
        ("2026-11-29T10:15:00.123456789Z", 1_795_947_300.123456789),
        ("2024-02-29T00:00:00Z", 1_709_164_800.0),
        ("2000-02-29T23:59:59Z", 951_868_799.0),
        ("1970-01-01T00:00:00Z", 0.0),
        ("1969-12-31T23:59:59.999Z", -0.001),
    ])
    func acceptsValidTimes(text: String, epoch: Double) {
        let parsed = Timestamp.parse(text)
        #expect(parsed.map { abs($0.timeIntervalSince1970 - epoch) < 1e-6 } == true, "\(text) → \(String(describing: parsed))")
    }

    @Test(arguments: [
        "", "2026-11-29", "2026-11-29T10:15:00", "2026-11-29 10:15:00Z", "2026-11-29T10:15Z",
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z",
        "2026-01-01T23:59:60Z", "0000-01-01T00:00:00Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.1234567890Z",
        "2026-01-01T00:00:00+0100", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+01:60", "2026-01-01T00:00:00ZZ",
        "2026-01-01T00:00:00Z ", " 2026-01-01T00:00:00Z", "2026-01-01T00:00:00+01:00:00", "+2026-01-01T00:00:00Z",
        "2026-1-01T00:00:00Z", "２０２６-01-01T00:00:00Z", "2026-01-01T00:00:00.000000000000000000000000000000Z",
    ])
    func refusesWhatIsNotRFC3339(text: String) {
        #expect(Timestamp.parse(text) == nil, "\(text)")
    }
}
