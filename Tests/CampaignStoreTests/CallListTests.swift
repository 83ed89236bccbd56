import CampaignCore
import CampaignProtocol
@testable import CampaignStore
import CampaignTestSupport
import Foundation
import Testing

/// `calls.list` against a real PostgreSQL: the order, the cursor (exact across calls of the
/// same instant), the window by the call's time, and each filter, held to the same query asked
/// of the table directly.
@Suite("Call logs listed")
struct CallListTests {
    @Test func pagesWindowsAndFiltersAgreeWithTheTable() async throws {
        let (db, store) = try await TestDatabase.migrated("calls")
        defer { db.drop() }
        let jobs = try await TestFactory.jobs(store, count: 6, prefix: "cl")
        let conn = try db.connect()
        _ = try conn.query(unsafeSQL: """
            INSERT INTO campaign.campaigns (name, title, status, priority, audience, updated_by)
            VALUES ('sales', '', 'ACTIVE', 10, 'all', 'test')
            """)
        _ = try conn.query(unsafeSQL: "UPDATE campaign.campaign_jobs SET campaign_id = (SELECT id FROM campaign.campaigns WHERE name = 'sales') WHERE id = $1", [String(jobs[5])])
        // 60 calls over 6 jobs: several at the very same instant (the cursor's id breaks the tie),
        // some without a start (placed by when they were logged), outcomes and agents mixed.
        let outcomes = ["ANSWERED", "NO_ANSWER", "BUSY", "VOICEMAIL"]
        let base = "2026-11-30 12:00:00+00"
        for k in 0..<60 {
            let job = jobs[k % 6]
            let started = k % 10 == 9 ? "NULL" : "timestamptz '\(base)' + interval '\(k / 3) minutes'"
            _ = try conn.query(unsafeSQL: """
                INSERT INTO campaign.call_logs (job_id, customer_id, campaign_id, attempt, agent, provider, idempotency_key,
                    started_at, ended_at, outcome, duration, created_at)
                SELECT id, customer_id, campaign_id, \(k / 6 + 1), 'agent-\(k % 3)', 'simulate', queue_job_id || '#\(k)',
                       \(started), NULL, '\(outcomes[k % 4])', interval '\(k) seconds',
                       timestamptz '\(base)' + interval '\(k) minutes 30 seconds'
                FROM campaign.campaign_jobs WHERE id = \(job)
                """)
        }

        /// The ids the table gives for a filter, in the documented order.
        func expected(_ filter: String = "TRUE") throws -> [Int64] {
            try conn.query(unsafeSQL: """
                SELECT l.id FROM campaign.call_logs l JOIN campaign.campaign_jobs j ON j.id = l.job_id
                JOIN campaign.customers c ON c.id = l.customer_id JOIN campaign.campaigns k ON k.id = j.campaign_id
                WHERE \(filter) ORDER BY coalesce(l.started_at, l.created_at) DESC, l.id DESC
                """).all.map { try $0.int64("id") }
        }
        /// Every page of `p`, `limit` at a time.
        func paged(_ p: ListCalls.Params, campaignId: Int64? = nil, limit: Int = 7) async throws -> [CallLogView] {
            var out: [CallLogView] = []
            var p = p
            p.limit = limit
            var pages = 0
            repeat {
                let page = try await store.listCalls(p, campaignId: campaignId)
                #expect(page.calls.count <= limit)
                out += page.calls
                p.cursor = page.nextCursor
                pages += 1
            } while p.cursor != nil && pages < 100
            return out
        }

        let all = try await paged(ListCalls.Params())
        #expect(all.map(\.id) == (try expected()))
        #expect(all.count == 60 && Set(all.map(\.id)).count == 60)
        let first = try #require(all.first { $0.jobId == jobs[0] })
        #expect(first.campaign == "default" && first.customerRef == "cl-0000" && first.createdAt != nil)
        #expect(all.first { $0.jobId == jobs[5] }?.campaign == "sales")
        #expect(all.contains { $0.startedAt == nil }, "calls without a start are listed too")

        // A window by the call's time: [12:05, 12:11) of starts, and the unstarted logged then.
        let since = "2026-11-30T12:05:00Z"
        let until = "2026-11-30T12:11:00.000+00:00"
        let window = try await paged(ListCalls.Params(since: since, until: until), limit: 4)
        let inWindow = try expected(
            "coalesce(l.started_at, l.created_at) >= '\(since)' AND coalesce(l.started_at, l.created_at) < '\(until)'")
        #expect(window.map(\.id) == inWindow && !inWindow.isEmpty)

        // Each filter, alone and together.
        #expect(try await paged(ListCalls.Params(outcome: .busy)).map(\.id) == (try expected("l.outcome = 'BUSY'")))
        #expect(try await paged(ListCalls.Params(agent: "agent-1")).map(\.id) == (try expected("l.agent = 'agent-1'")))
        #expect(try await paged(ListCalls.Params(customerRef: "cl-0002")).map(\.id) == (try expected("c.external_ref = 'cl-0002'")))
        #expect(try await paged(ListCalls.Params(jobId: jobs[3])).map(\.id) == (try expected("l.job_id = \(jobs[3])")))
        let sales = Int64(try db.scalar("SELECT id FROM campaign.campaigns WHERE name = 'sales'") ?? "") ?? -1
        #expect(try await paged(ListCalls.Params(), campaignId: sales).map(\.id) == (try expected("k.name = 'sales'")))
        let both = try await paged(ListCalls.Params(since: since, outcome: .answered, agent: "agent-0"), limit: 1)
        #expect(both.map(\.id) == (try expected(
            "coalesce(l.started_at, l.created_at) >= '\(since)' AND l.outcome = 'ANSWERED' AND l.agent = 'agent-0'")))
        // A page short of the limit is the last: no cursor.
        #expect(try await store.listCalls(ListCalls.Params(jobId: jobs[0], limit: 1000)).nextCursor == nil)
    }

    @Test func cursorsAndTheirInstantsAreExact() async throws {
        let db = try await TestDatabase.create("cursor")
        defer { db.drop() }
        let conn = try db.connect()
        for us: Int64 in [0, 1, 999_999, 1_733_112_000_123_456, -1, -1_000_001, 253_402_300_799_999_999] {
            let c = ListCalls.Cursor(microseconds: us, id: 42)
            #expect(ListCalls.Cursor(c.description) == c)
            // PostgreSQL reads the literal back to the very microsecond.
            let text = SQL.CallLogsList.timestamp(microseconds: us)
            let back = try conn.query(unsafeSQL: "SELECT (extract(epoch FROM $1::timestamptz) * 1000000)::bigint", [text])
            #expect(back.int64(row: 0, column: 0) == us, "\(us): \(text)")
        }
        for bad in ["", "1", "1:", ":1", "a:1", "1:b", "1:2:3"] { #expect(ListCalls.Cursor(bad) == nil, "\(bad)") }
        #expect(throws: RPCError.self) { try ListCalls.Params(cursor: "12").validate() }
        #expect(throws: RPCError.self) { try ListCalls.Params(since: "yesterday").validate() }
        #expect(throws: RPCError.self) { try ListCalls.Params(agent: "").validate() }
        try ListCalls.Params(since: "2026-11-30T12:00:00Z", cursor: "1:2").validate()
    }
}
