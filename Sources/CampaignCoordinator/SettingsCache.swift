import CampaignCore
import CampaignProtocol
import CampaignStore
import NIOConcurrencyHelpers

/// Every campaign with its settings, as this coordinator last read them.
struct CampaignBook: Sendable {
    let campaigns: [CampaignRecord]
    /// The pre-dial rules and limits: the provider's from the default campaign's settings, and
    /// each campaign's that is not ended (whether it is open now, the database says with each
    /// row). Made once per read of the campaigns, not per batch.
    let dialRules: DialRules

    init(campaigns: [CampaignRecord]) {
        self.campaigns = campaigns
        let provider = (campaigns.first(where: \.isDefault) ?? Self.fallback).settings
        var rules: [Int64: CampaignRules] = [:]
        for c in campaigns where c.status != .ended {
            rules[c.id] = c.settings.campaignRules(weight: c.priority)
        }
        self.dialRules = DialRules(
            maxConcurrentCalls: provider.maxConcurrentCalls, callsPerSecond: provider.callsPerSecond, campaigns: rules)
    }

    /// The default campaign (the migration made it; it never ends).
    var `default`: CampaignRecord { self.campaigns.first(where: \.isDefault) ?? Self.fallback }

    /// What stands for the default campaign if its row were missing: the default settings.
    static let fallback = CampaignRecord(
        id: CampaignRecord.defaultID, name: CampaignName.default, title: "", status: .active, startsAt: nil,
        endsAt: nil, priority: 10, audience: .all, createdAt: "", updatedAt: "", updatedBy: "", endedAt: nil,
        endedReason: nil, settings: AutomationSettings())

    subscript(name: String) -> CampaignRecord? { self.campaigns.first { $0.name == name } }
    subscript(id id: Int64) -> CampaignRecord? { self.campaigns.first { $0.id == id } }
}

/// The campaigns and their settings, re-read from the database at most every `refresh` (another
/// coordinator may change them).
final class SettingsCache: Sendable {
    private let store: PostgresJobStore
    private let refresh: Duration
    /// The clock (a test passes its own).
    private let now: @Sendable () -> ContinuousClock.Instant
    private let cached = NIOLockedValueBox<(CampaignBook, ContinuousClock.Instant)?>(nil)
    /// Every campaign's name by id, of every book read so far (names never change, campaigns are never deleted).
    private let names = NIOLockedValueBox<[Int64: String]>([CampaignRecord.defaultID: CampaignName.default])

    init(store: PostgresJobStore, refresh: Duration, now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.store = store
        self.refresh = refresh
        self.now = now
    }

    /// The campaigns: the cached ones while younger than `refresh`, else (or when `fresh`) read again.
    func book(fresh: Bool = false) async throws -> CampaignBook {
        if !fresh, let (b, at) = self.cached.withLockedValue({ $0 }), self.now() - at < self.refresh {
            return b
        }
        let b = CampaignBook(campaigns: try await self.store.campaigns())
        self.set(b)
        return b
    }

    /// The default campaign's settings.
    func get(fresh: Bool = false) async throws -> AutomationSettings {
        try await self.book(fresh: fresh).default.settings
    }

    /// What this coordinator just wrote: cached as read now.
    func set(_ b: CampaignBook) {
        let at = self.now()
        self.cached.withLockedValue { $0 = (b, at) }
        self.names.withLockedValue { names in
            for c in b.campaigns where names[c.id] == nil { names[c.id] = c.name }
        }
    }

    /// The name of campaign `id`, as last read (`campaign-<id>` for one never read, which a
    /// job leased by this coordinator cannot be).
    func name(of id: Int64) -> String {
        self.names.withLockedValue { $0[id] } ?? "campaign-\(id)"
    }

    /// Forgets what was read: the next ``book(fresh:)`` reads again.
    func invalidate() {
        self.cached.withLockedValue { $0 = nil }
    }
}

extension AutomationSettings {
    /// A campaign's pre-dial rules and own limits, as these settings describe them.
    func campaignRules(weight: Int) -> CampaignRules {
        CampaignRules(
            policy: EligibilityPolicy(
                windows: self.callingWindows
                    ?? CallingWindows(WorkingHours(startSecond: 9 * 3600, endSecond: 18 * 3600, isoWeekdays: Set(1...5))),
                cooldownSeconds: self.cooldownMinutes * 60, requireConsent: self.requireConsent),
            dailyCap: self.dailyCap, timezone: self.timezone, maxConcurrentCalls: self.maxConcurrentCalls,
            weight: weight, retry: self.retryPolicy, schedule: self.retrySchedule ?? RetrySchedule(),
            numberCap: self.numberCap)
    }
}
