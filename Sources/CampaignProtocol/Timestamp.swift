import Foundation

/// RFC 3339 times as the wire carries them: parsed with or without fractional seconds, written
/// in UTC with milliseconds. Shared by the coordinator and the agent.
public enum Timestamp {
    /// The instant of an RFC 3339 date-time with a zone, nil for anything else.
    public static func parse(_ s: String) -> Date? {
        guard s.utf8.count <= 40 else { return nil }
        let withFraction = ISO8601DateFormatter()
        withFraction.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = withFraction.date(from: s) { return d }
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        return plain.date(from: s)
    }

    /// `2026-11-29T10:15:00.250Z`.
    public static func string(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}
