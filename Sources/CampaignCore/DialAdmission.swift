/// Whether the provider's limits admit one more call start now, and if not how long to wait:
/// the decision of the pre-dial check under the dial-limits lock, pure. The store reads the
/// counters (calls DIALING, starts in the rate window, starts today) under that lock and asks
/// this once per call of a batch; each admitted call counts at once for the next.
public struct DialAdmission: Sendable, Equatable {
    /// Calls DIALING now.
    public private(set) var dialing: Int
    /// Call starts in the current rate window.
    public private(set) var inWindow: Int
    /// Call starts today (the daily cap counts these).
    public private(set) var callsToday: Int
    public let maxConcurrentCalls: Int
    /// At most `calls` starts per `seconds`.
    public struct RateWindow: Sendable, Equatable {
        public var seconds: Double
        public var calls: Int

        public init(seconds: Double, calls: Int) {
            self.seconds = seconds
            self.calls = calls
        }
    }

    /// The rate window.
    public let window: RateWindow

    public init(dialing: Int, inWindow: Int, callsToday: Int, maxConcurrentCalls: Int, callsPerSecond: Double) {
        self.dialing = dialing
        self.inWindow = inWindow
        self.callsToday = callsToday
        self.maxConcurrentCalls = maxConcurrentCalls
        self.window = Self.rateWindow(callsPerSecond: callsPerSecond)
    }

    /// The rate window of a calls-per-second limit: one second, or for less than one call a
    /// second, one call per `1 / callsPerSecond` seconds.
    public static func rateWindow(callsPerSecond: Double) -> RateWindow {
        let seconds = max(1, 1 / callsPerSecond)
        return RateWindow(seconds: seconds, calls: max(1, Int((callsPerSecond * seconds).rounded(.down))))
    }

    /// Takes one call slot under the limits; nil when admitted (and counted), else how long to wait (ms).
    public mutating func admit() -> Int? {
        guard self.slack > 0 else { return self.waitMs }
        self.dialing += 1
        self.inWindow += 1
        self.callsToday += 1
        return nil
    }

    /// How many more calls the limits admit now.
    public var slack: Int {
        max(0, min(self.maxConcurrentCalls - self.dialing, self.window.calls - self.inWindow))
    }

    /// How long to wait when no call is admitted: until a call may end (concurrency), or one
    /// call's share of the rate window (at least 50 ms).
    public var waitMs: Int {
        if self.dialing >= self.maxConcurrentCalls { return 1000 }
        return max(50, Int(self.window.seconds * 1000) / self.window.calls)
    }
}

/// One campaign's own share under the provider's limits: its calls in progress, at most its own
/// `maxConcurrentCalls`, and its calls today (which its daily cap, a business rule, reads). Pure,
/// like ``DialAdmission``; a call is admitted only when both the campaign and the provider have
/// room, and then counts for both.
public struct CampaignAdmission: Sendable, Equatable {
    public private(set) var dialing: Int
    public private(set) var callsToday: Int
    public let maxConcurrentCalls: Int

    public init(dialing: Int, callsToday: Int, maxConcurrentCalls: Int) {
        self.dialing = dialing
        self.callsToday = callsToday
        self.maxConcurrentCalls = maxConcurrentCalls
    }

    /// More calls the campaign's own limit admits now.
    public var slack: Int { max(0, self.maxConcurrentCalls - self.dialing) }

    /// Takes one call slot of the campaign and of the provider; nil when admitted (and counted
    /// in both), else how long to wait (ms): until a call may end when the campaign is full, else
    /// as the provider says.
    public mutating func admit(under provider: inout DialAdmission) -> Int? {
        guard self.slack > 0 else { return 1000 }
        if let wait = provider.admit() { return wait }
        self.dialing += 1
        self.callsToday += 1
        return nil
    }
}
