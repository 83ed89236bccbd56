#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Exponential backoff with full jitter, bounded (DESIGN §4).
///
/// The delay before retry *n* (n = attempts already made, ≥ 1) is drawn uniformly from
/// `[0, min(cap, base × factor^(n-1))]`.
public struct RetryPolicy: Sendable, Equatable, Codable {
    /// Base delay in milliseconds.
    public var baseMs: Int
    /// Growth factor per attempt (≥ 1).
    public var factor: Double
    /// Upper bound of any delay, in milliseconds.
    public var capMs: Int

    public init(baseMs: Int = 60_000, factor: Double = 2, capMs: Int = 3_600_000) {
        self.baseMs = baseMs
        self.factor = factor
        self.capMs = capMs
    }

    /// The upper bound of the delay after `attemptsMade` attempts. Saturates at the cap for any
    /// attempt count and any factor (no overflow, no loop).
    public func ceilingMs(afterAttempt attemptsMade: Int) -> Int {
        let cap = Double(max(0, self.capMs))
        let base = Double(max(0, self.baseMs))
        let exponent = Double(attemptsMade > 1 ? attemptsMade - 1 : 0)
        let growth = self.factor > 1 ? pow(self.factor, exponent) : 1
        let ceiling = min(base * growth, cap)  // inf * 0 cannot occur: growth is finite or +inf, base ≥ 0
        return Self.clampToInt(ceiling.isNaN ? cap : ceiling)
    }

    /// The delay after `attemptsMade` attempts; `unit` is a random number in [0, 1).
    public func delayMs(afterAttempt attemptsMade: Int, unit: Double) -> Int {
        let u = unit.isNaN ? 0 : min(max(unit, 0), 1)
        return Self.clampToInt((Double(self.ceilingMs(afterAttempt: attemptsMade)) * u).rounded(.down))
    }

    /// Converts without trapping: values beyond Int's range saturate.
    private static func clampToInt(_ d: Double) -> Int {
        if d >= 9.2e18 { return Int.max }
        if d <= 0 { return 0 }
        return Int(d)
    }
}
