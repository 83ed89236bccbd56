import CampaignCore
import CampaignProtocol
@testable import CampaignStore
import CampaignTestSupport
import Foundation
import Testing

/// The event outbox (migration 0011) against a real PostgreSQL: every transition writes one
/// event in its own transaction, whichever statement made it; numbering follows commits, not
/// the order ids were taken; one sequencer at a time; the bounds say what retention took.
@Suite("Event outbox")
struct EventOutboxTests {
    /// Numbers everything there is and returns the events after `after`.
    func drain(_ store: PostgresJobStore, after: Int64 = 0) async throws -> [JobEvent] {
        while let n = try await store.numberEvents(limit: 3), n.count > 0 {}
        return try await store.events(after: after, limit: 1000)
    }

    @Test func eachTransitionWritesOneEventAndRenewalsNone() async throws {
        let (db, store) = try await TestDatabase.migrated("events")
        defer { db.drop() }
        let jobs = try await TestFactory.jobs(store, count: 5, prefix: "ev")
        var events = try await self.drain(store)
        #expect(events.map(\.id) == jobs)
        #expect(events.allSatisfy { $0.status == .queued && $0.phase == nil && $0.attemptsMade == 0 && $0.campaign == "default" })
        #expect(events.map(\.eventId) == [1, 2, 3, 4, 5])

        let leased = try await store.lease(owner: "a@c#1", max: 3, leaseSeconds: 60)
        #expect(leased.count == 3)
        _ = try await store.renewLeases(owners: ["a@c#1"], leaseSeconds: 120)
        events = try await self.drain(store, after: 5)
        #expect(events.count == 3, "a lease is one event each, a renewal none")
        #expect(events.allSatisfy { $0.status == .active && $0.phase == .claimed && $0.attemptsMade == 1 })
        #expect(Set(events.map(\.id)) == Set(leased.map(\.jobId)))

        let released = try await store.releaseClaimed(owner: "a@c#1")
        #expect(released.count == 3)
        events = try await self.drain(store, after: 8)
        #expect(events.count == 3)
        #expect(events.allSatisfy { $0.status == .queued && $0.attemptsMade == 1 })
        // Every event is in the table once, numbered 1…11 without a gap.
        let row = try db.connect().query(unsafeSQL: "SELECT count(*), count(DISTINCT seq), max(seq) FROM campaign.job_events")
        #expect(row[0, 0] == "11" && row[0, 1] == "11" && row[0, 2] == "11")
        #expect(try await store.eventBounds() == EventBounds(last: 11, oldest: 1))
    }

    @Test func numberingFollowsCommitsNotIds() async throws {
        let (db, store) = try await TestDatabase.migrated("evorder")
        defer { db.drop() }
        let jobs = try await TestFactory.jobs(store, count: 2, prefix: "eo")
        let head = try #require(try await store.numberEvents()).last
        #expect(head == 2)
        // A transaction writes an event first (the lower id) and stays open…
        let slow = try db.connect()
        _ = try slow.query(unsafeSQL: "BEGIN")
        _ = try slow.query(unsafeSQL: "UPDATE campaign.campaign_jobs SET status = 'SKIPPED', reason = 'slow' WHERE id = $1", [String(jobs[0])])
        // …while another writes one after it and commits.
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.campaign_jobs SET status = 'SKIPPED', reason = 'fast' WHERE id = $1", [String(jobs[1])])
        let first = try await self.drain(store, after: head)
        #expect(first.map(\.reason) == ["fast"], "only what is committed is numbered")
        // A reader now past the fast one still gets the slow one, numbered after it.
        _ = try slow.query(unsafeSQL: "COMMIT")
        let second = try await self.drain(store, after: first[0].eventId)
        #expect(second.map(\.reason) == ["slow"])
        #expect(second[0].eventId > first[0].eventId)
        let ids = try db.connect().query(unsafeSQL: "SELECT id FROM campaign.job_events WHERE reason IN ('slow', 'fast') ORDER BY seq").all
            .map { try $0.int64("id") }
        #expect(ids.count == 2 && ids[0] > ids[1], "the slow one took its id first, yet comes second")
    }

    @Test func oneSequencerAtATimeAndNoNumberTwice() async throws {
        let (db, store) = try await TestDatabase.migrated("evseq", poolSize: 8)
        defer { db.drop() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for k in 0..<4 {
                group.addTask { _ = try await TestFactory.jobs(store, count: 200, prefix: "es\(k)") }
                group.addTask {
                    for _ in 0..<40 { _ = try await store.numberEvents(limit: 37) }
                }
            }
            try await group.waitForAll()
        }
        _ = try await self.drain(store)
        let row = try db.connect().query(
            unsafeSQL: "SELECT count(*), count(DISTINCT seq), min(seq), max(seq), count(*) FILTER (WHERE seq IS NULL) FROM campaign.job_events")
        #expect(row[0, 0] == "800" && row[0, 1] == "800" && row[0, 2] == "1" && row[0, 3] == "800" && row[0, 4] == "0")
        #expect(try await store.eventBounds().last == 800)
    }

    @Test func boundsTellWhatRetentionTook() async throws {
        let bounds = EventBounds(last: 10, oldest: 4)
        #expect(!bounds.misses(after: 3) && !bounds.misses(after: 10))
        #expect(bounds.misses(after: 2) && bounds.misses(after: 0))
        let empty = EventBounds(last: 10, oldest: nil)
        #expect(!empty.misses(after: 10) && empty.misses(after: 9))
        #expect(!EventBounds(last: 0, oldest: nil).misses(after: 0))
    }
}
