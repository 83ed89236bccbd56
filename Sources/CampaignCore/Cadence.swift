/// When a periodic duty is due: the first time at once, then once `interval` has passed since
/// the last time it ran. Pure: the caller passes the instant (the maintenance loop passes the
/// clock's, a test any instant it likes).
public struct Cadence: Sendable, Equatable {
    public private(set) var lastRun: ContinuousClock.Instant?

    public init() {}

    /// Whether the duty is due at `now` for the given interval; when it is, `now` becomes its
    /// last run. The interval is an argument because some come from settings that change.
    public mutating func claim(at now: ContinuousClock.Instant, every interval: Duration) -> Bool {
        if let last = self.lastRun, now - last < interval { return false }
        self.lastRun = now
        return true
    }
}
