import CampaignCore
import CampaignProtocol
import CampaignStore
import CampaignTestSupport
import NIOConcurrencyHelpers
import Testing

@testable import CampaignCoordinator

/// The settings cache on a clock the test moves, against a real PostgreSQL where another
/// coordinator (the test) changes the settings behind it.
@Suite("Settings cache")
struct SettingsCacheTests {
    @Test func cachedForTheRefreshPeriodThenReadAgainAndFreshAlwaysReads() async throws {
        let (db, store) = try await TestDatabase.migrated("settingscache")
        defer { db.drop() }
        let t0 = ContinuousClock.now
        let clock = NIOLockedValueBox(t0)
        let cache = SettingsCache(store: store, refresh: .seconds(5), now: { clock.withLockedValue { $0 } })
        var s = try await cache.get()
        let before = s.dailyCap
        s.dailyCap = before + 7
        try await store.writeSettings(s, by: "another coordinator")
        clock.withLockedValue { $0 = t0 + .milliseconds(4999) }
        #expect(try await cache.get().dailyCap == before, "younger than the refresh period: the cached value")
        clock.withLockedValue { $0 = t0 + .seconds(5) }
        #expect(try await cache.get().dailyCap == before + 7, "at the refresh period: read again")
        s.dailyCap = before + 9
        try await store.writeSettings(s, by: "another coordinator")
        #expect(try await cache.get().dailyCap == before + 7)
        #expect(try await cache.get(fresh: true).dailyCap == before + 9, "fresh reads whatever the age")
        // What this coordinator writes itself is cached as of now.
        s.dailyCap = before + 11
        var written = try await cache.book().default
        written.settings = s
        cache.set(CampaignBook(campaigns: [written]))
        clock.withLockedValue { $0 = t0 + .seconds(9) }
        #expect(try await cache.get().dailyCap == before + 11)
        // Invalidated: the next read goes to the database.
        cache.invalidate()
        #expect(try await cache.get().dailyCap == before + 9)
    }
}
