import CampaignCore
import CampaignProtocol
import CampaignStore
import NIOConcurrencyHelpers

/// The automation settings, re-read from the database at most every `refresh` (another
/// coordinator may change them).
final class SettingsCache: Sendable {
    private let store: PostgresJobStore
    private let refresh: Duration
    /// The clock (a test passes its own).
    private let now: @Sendable () -> ContinuousClock.Instant
    private let cached = NIOLockedValueBox<(AutomationSettings, ContinuousClock.Instant)?>(nil)

    init(store: PostgresJobStore, refresh: Duration, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.store = store
        self.refresh = refresh
        self.now = now
    }

    /// The settings: the cached ones while younger than `refresh`, else (or when `fresh`) read again.
    func get(fresh: Bool = false) async throws -> AutomationSettings {
        if !fresh, let (s, at) = self.cached.withLockedValue({ $0 }), self.now() - at < self.refresh {
            return s
        }
        let s = try await self.store.settings()
        self.set(s)
        return s
    }

    /// What this coordinator just wrote: cached as read now.
    func set(_ s: AutomationSettings) {
        let at = self.now()
        self.cached.withLockedValue { $0 = (s, at) }
    }
}

extension AutomationSettings {
    /// The pre-dial rules and provider limits these settings describe.
    var dialRules: DialRules {
        DialRules(
            policy: EligibilityPolicy(
                windows: self.callingWindows
                    ?? CallingWindows(WorkingHours(startSecond: 9 * 3600, endSecond: 18 * 3600, isoWeekdays: Set(1...5))),
                cooldownSeconds: self.cooldownMinutes * 60),
            dailyCap: self.dailyCap, timezone: self.timezone, maxConcurrentCalls: self.maxConcurrentCalls,
            callsPerSecond: self.callsPerSecond)
    }
}
