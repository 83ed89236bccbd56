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

    /// The upper bound of the delay after `attemptsMade` attempts.
    public func ceilingMs(afterAttempt attemptsMade: Int) -> Int {
        let exponent = Double(max(0, attemptsMade - 1))
        var ceiling = Double(self.baseMs)
        // Multiply step by step so huge attempt counts saturate at the cap instead of overflowing.
        var i = 0.0
        while i < exponent && ceiling < Double(self.capMs) {
            ceiling *= self.factor
            i += 1
        }
        return Int(min(ceiling, Double(self.capMs)))
    }

    /// The delay after `attemptsMade` attempts; `unit` is a random number in [0, 1).
    public func delayMs(afterAttempt attemptsMade: Int, unit: Double) -> Int {
        let u = min(max(unit, 0), 1)
        return Int((Double(self.ceilingMs(afterAttempt: attemptsMade)) * u).rounded(.down))
    }
}
