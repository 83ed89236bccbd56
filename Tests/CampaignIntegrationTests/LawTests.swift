import CampaignCore
import CampaignProtocol
import CampaignStore
import CampaignTestSupport
import Foundation
import Testing

/// Calling within the law (issue 15), through the store against a real PostgreSQL: the caps of
/// calls per number across jobs, retries, customers and campaigns at the pre-dial check, and the
/// database's copy of the rules kept in step with the shipped table.
@Suite("The law at the pre-dial check")
struct LawTests {
    /// A zone whose clock reads about noon now: every rule's hours are open there, so these
    /// tests do not depend on the hour they run at.
    static var noonZone: String {
        let hour = Int(Date().timeIntervalSince1970 / 3600) % 24
        let offset = 12 - hour  // −11 … +12; Etc/GMT's POSIX sign is the opposite of the offset's
        return offset == 0 ? "Etc/GMT" : offset > 0 ? "Etc/GMT-\(offset)" : "Etc/GMT+\(-offset)"
    }

    static let allDay = EligibilityPolicy(
        windows: CallingWindows(windows: [.init(isoWeekdays: Set(1...7), startSecond: 0, endSecond: 86_400)]),
        cooldownSeconds: 0)

    static func rules(_ campaigns: [Int64: NumberFrequencyCap]) -> DialRules {
        DialRules(
            maxConcurrentCalls: 100_000, callsPerSecond: 10_000,
            campaigns: campaigns.mapValues { cap in
                CampaignRules(
                    policy: Self.allDay, dailyCap: 10_000_000, timezone: "UTC", maxConcurrentCalls: 100_000, numberCap: cap)
            })
    }

    static func secondCampaign(_ store: PostgresJobStore) async throws -> Int64 {
        let d = CampaignRecord.draft(
            name: "second", title: "second", status: .active, startsAt: nil, endsAt: nil, priority: 10, audience: .all,
            settings: .wideOpen)
        return try #require(try await store.createCampaign(d, by: "test")).id
    }

    /// Jobs of the given customers (by ref) in the given campaigns.
    static func enqueue(_ store: PostgresJobStore, _ jobs: [(ref: String, campaign: Int64, n: Int)]) async throws -> [Int64] {
        let items = jobs.flatMap { j in
            (0..<j.n).map { i in EnqueueItem(customerRef: j.ref, queueJobId: "\(j.ref)-\(j.campaign)-\(i)") }
        }
        let campaigns = jobs.flatMap { j in repeatElement(j.campaign, count: j.n) }
        let ids = try await store.enqueue(items, campaignIds: campaigns, defaultMaxAttempts: 5).compactMap(\.jobId)
        #expect(ids.count == items.count)
        return ids
    }

    @Test func aNumberSharedByTwoCustomersInTwoCampaignsGetsAtMostThreeCallsIn24HoursWhateverTheRetries() async throws {
        let (db, store) = try await TestDatabase.migrated("lawshared")
        defer { db.drop() }
        let second = try await Self.secondCampaign(store)
        // One Florida number (305), two customers.
        _ = try await store.upsertCustomers([
            ValidCustomer(externalRef: "a", name: "", phone: "+13055550123", timezone: Self.noonZone, status: nil, attributesJSON: nil),
            ValidCustomer(externalRef: "b", name: "", phone: "+13055550123", timezone: Self.noonZone, status: nil, attributesJSON: nil),
        ])
        _ = try await Self.enqueue(store, [("a", CampaignRecord.defaultID, 3), ("b", second, 3)])
        // The default campaign's own cap (5) is above the law's (3): the law's holds.
        let rules = Self.rules([CampaignRecord.defaultID: NumberFrequencyCap(per24h: 5), second: .none])
        let first = try await store.lease([LeaseRequest(owner: "a", max: 10, dial: true)], leaseSeconds: 30, rules: rules)
        #expect(first[0].jobs.count == 3, "\(first)")
        #expect(try db.scalar("SELECT count(*) FROM campaign.number_calls WHERE phone = '+13055550123'") == "3")
        // The other three wait a day (the first call's 24 hours), their attempts not spent.
        #expect(try db.scalar(
            """
            SELECT count(*) FROM campaign.campaign_jobs
            WHERE status = 'QUEUED' AND attempts_made = 0 AND result ->> 'reason' = 'number_frequency'
              AND run_at BETWEEN now() + interval '23 hours 59 minutes' AND now() + interval '24 hours 1 minute'
            """) == "3")
        // The three calls fail and are retried at once: still no fourth call.
        let failed = try await store.apply(
            first[0].jobs.map {
                JobRequest(
                    jobId: $0.jobId, leaseToken: $0.leaseToken,
                    kind: .fail(retryable: true, error: "no answer", outcome: .noAnswer), agent: "a")
            }, retry: RetryPolicy(baseMs: 1, factor: 1, capMs: 1), rules: rules)
        #expect(failed.count == 3)
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.campaign_jobs SET run_at = now() WHERE status = 'QUEUED'")
        let again = try await store.lease([LeaseRequest(owner: "a", max: 10, dial: true)], leaseSeconds: 30, rules: rules)
        #expect(again[0].jobs.isEmpty && again[0].refused.isEmpty, "\(again)")
        #expect(try db.scalar("SELECT count(*) FROM campaign.number_calls") == "3")
        #expect(try db.scalar(
            "SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'QUEUED' AND result ->> 'reason' = 'number_frequency'")
            == "6")
        // Every deferral is in the audit: three in the first batch, six in the second, with the
        // agent that asked and when each job is due again.
        #expect(try db.scalar(
            """
            SELECT count(*) FROM campaign.dial_refusals
            WHERE rule = 'number_frequency' AND by = 'a' AND phone = '+13055550123' AND until > now() + interval '23 hours'
            """) == "9")
        // Both campaigns called it.
        #expect(try db.scalar("SELECT count(DISTINCT campaign_id) FROM campaign.number_calls") == "2")
    }

    @Test func aCampaignsOwnCapCountsTheCallsOfEveryCampaign() async throws {
        let (db, store) = try await TestDatabase.migrated("lawoperator")
        defer { db.drop() }
        let second = try await Self.secondCampaign(store)
        // A UK number: no rule of the law's caps it; the second campaign's one call a day does.
        _ = try await store.upsertCustomers([
            ValidCustomer(externalRef: "a", name: "", phone: "+442079460123", timezone: Self.noonZone, status: nil, attributesJSON: nil),
            ValidCustomer(externalRef: "b", name: "", phone: "+442079460123", timezone: Self.noonZone, status: nil, attributesJSON: nil),
        ])
        let ids = try await Self.enqueue(store, [("a", CampaignRecord.defaultID, 2), ("b", second, 2)])
        let rules = Self.rules([CampaignRecord.defaultID: .none, second: NumberFrequencyCap(perLocalDay: 1)])
        // The default campaign calls twice (no cap of its own, none of the law's)...
        let leased = try await store.lease(
            [LeaseRequest(owner: "a", max: 2, dial: false)], leaseSeconds: 30,
            rules: Self.rules([CampaignRecord.defaultID: .none]))  // the default campaign's jobs only
        #expect(leased[0].jobs.map(\.jobId) == Array(ids.prefix(2)))
        let dialing = try await store.apply(
            leased[0].jobs.map { JobRequest(jobId: $0.jobId, leaseToken: $0.leaseToken, kind: .dialing, agent: "a") },
            retry: RetryPolicy(), rules: rules)
        #expect(dialing.allSatisfy { if case .dialing(let d) = $0 { d.allowed } else { false } }, "\(dialing)")
        #expect(try db.scalar("SELECT count(*) FROM campaign.number_calls WHERE phone = '+442079460123'") == "2")
        // ...and the second campaign, whose cap those calls already spent, calls not at all today.
        let seconds = try await store.lease([LeaseRequest(owner: "b", max: 2, dial: true)], leaseSeconds: 30, rules: rules)
        #expect(seconds[0].jobs.isEmpty, "\(seconds)")
        let deferred = try db.scalar(
            """
            SELECT count(*) FROM campaign.campaign_jobs
            WHERE campaign_id = \(second) AND status = 'QUEUED' AND result ->> 'reason' = 'number_frequency'
              AND (run_at AT TIME ZONE '\(Self.noonZone)')::time = '00:00'
            """)
        #expect(deferred == "2")  // to the customer's next local midnight
    }

    @Test func callsAnotherCoordinatorRecordedCountAtTheDialingCheck() async throws {
        let (db, store) = try await TestDatabase.migrated("lawother")
        defer { db.drop() }
        // Oklahoma (405): three calls in 24 hours; three were placed an hour ago.
        _ = try await store.upsertCustomers([
            ValidCustomer(externalRef: "ok", name: "", phone: "+14055550100", timezone: Self.noonZone, status: nil, attributesJSON: nil)
        ])
        _ = try await Self.enqueue(store, [("ok", CampaignRecord.defaultID, 1)])
        _ = try db.connect().query(unsafeSQL: """
            INSERT INTO campaign.number_calls (phone, at, campaign_id)
            SELECT '+14055550100', now() - interval '1 hour' + i * interval '1 second', 1 FROM generate_series(0, 2) i
            """)
        let rules = Self.rules([CampaignRecord.defaultID: .none])
        let leased = try await store.lease([LeaseRequest(owner: "a", max: 1, dial: false)], leaseSeconds: 30, rules: rules)
        let job = try #require(leased[0].jobs.first)
        let out = try await store.apply(
            [JobRequest(jobId: job.jobId, leaseToken: job.leaseToken, kind: .dialing, agent: "a")], retry: RetryPolicy(),
            rules: rules)
        guard case .dialing(let d) = out.first else {
            Issue.record("\(out)")
            return
        }
        #expect(!d.allowed && d.rule == "number_frequency" && d.status == .queued, "\(d)")
        // Due when the first of the three is 24 hours old: in 23 hours.
        #expect(try db.scalar(
            "SELECT run_at BETWEEN now() + interval '22 hours 59 minutes' AND now() + interval '23 hours 1 minute' FROM campaign.campaign_jobs")
            == "t")
    }

    @Test func theDatabasesRulesFollowTheShippedTable() async throws {
        let (db, store) = try await TestDatabase.migrated("lawsync")
        defer { db.drop() }
        #expect(try db.scalar("SELECT count(*) FROM campaign.jurisdiction_floors WHERE version = '\(Jurisdictions.version)'")
            == String(Jurisdictions.everyFloor.count))
        _ = try await store.upsertCustomers([
            ValidCustomer(externalRef: "fl", name: "", phone: "+13055550100", timezone: "America/New_York", status: nil, attributesJSON: nil),
            ValidCustomer(
                externalRef: "on", name: "", phone: "+442079460001", timezone: "America/Toronto", status: nil, attributesJSON: nil,
                region: "CA-ON"),
            ValidCustomer(externalRef: "uk", name: "", phone: "+442079460002", timezone: "Europe/London", status: nil, attributesJSON: nil),
        ])
        let keys = "SELECT string_agg(external_ref || '=' || coalesce(jurisdiction, 'NULL'), ' ' ORDER BY external_ref) FROM campaign.customers"
        #expect(try db.scalar(keys) == "fl=US,US-FL on=CA uk=")
        // An older table (another version) and rows written before it: both are worked out again.
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.jurisdiction_floors SET version = 'old', starts = '{0}', ends = '{60}'")
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.customers SET jurisdiction = 'US' WHERE external_ref = 'uk'")
        let filled = try await store.syncJurisdictions(slice: 2)
        #expect(filled == 3)
        #expect(try db.scalar(keys) == "fl=US,US-FL on=CA uk=")
        #expect(try db.scalar("SELECT count(*) FROM campaign.jurisdiction_floors WHERE version = 'old'") == "0")
        #expect(try db.scalar("SELECT ends::text FROM campaign.jurisdiction_floors WHERE jurisdiction = 'US,US-FL'")
            == "{72000}")
        // In step: nothing to do.
        #expect(try await store.syncJurisdictions() == 0)
    }

    @Test func anOptOutOnACallSuppressesTheNumberAndStopsItsOtherJobsInTheReportsTransaction() async throws {
        let (db, store) = try await TestDatabase.migrated("lawoptout")
        defer { db.drop() }
        let second = try await Self.secondCampaign(store)
        _ = try await store.upsertCustomers([
            ValidCustomer(externalRef: "a", name: "", phone: "+442079460777", timezone: Self.noonZone, status: nil, attributesJSON: nil),
            ValidCustomer(externalRef: "b", name: "", phone: "+442079460777", timezone: Self.noonZone, status: nil, attributesJSON: nil),
            ValidCustomer(externalRef: "other", name: "", phone: "+442079460778", timezone: Self.noonZone, status: nil, attributesJSON: nil),
        ])
        let ids = try await Self.enqueue(store, [("a", CampaignRecord.defaultID, 2), ("b", second, 2), ("other", second, 1)])
        let rules = Self.rules([CampaignRecord.defaultID: .none, second: .none])
        // a's first job is called; b's first is leased (CLAIMED) by another agent; the rest wait.
        let leased = try await store.lease([LeaseRequest(owner: "x", max: 5, dial: false)], leaseSeconds: 30, rules: rules)
        let byId = Dictionary(uniqueKeysWithValues: leased[0].jobs.map { ($0.jobId, $0) })
        let calling = try #require(byId[ids[0]])
        let dialed = try await store.apply(
            [JobRequest(jobId: calling.jobId, leaseToken: calling.leaseToken, kind: .dialing, agent: "a")],
            retry: RetryPolicy(), rules: rules)
        guard case .dialing(let allowed) = dialed.first, let key = allowed.idempotencyKey else {
            Issue.record("\(dialed)")
            return
        }
        // Every job but a's first and b's second goes back to the queue (b's second stays CLAIMED).
        _ = try db.connect().query(unsafeSQL: """
            UPDATE campaign.campaign_jobs SET status = 'QUEUED', phase = NULL, lease_owner = NULL, lease_token = NULL,
                lease_expires_at = NULL, attempts_made = 0
            WHERE id NOT IN (\(ids[0]), \(ids[3]))
            """)
        let call = CallRecord(
            provider: "simulate", providerCallId: "c-1", idempotencyKey: key, startedAt: nil,
            endedAt: nil, outcome: .answered, durationMs: 1000, detail: nil, optOut: true)
        let claimed = try #require(byId[ids[3]])
        // In the same batch: the opt-out, and the dialing check of b's claimed job.
        let out = try await store.apply(
            [
                JobRequest(jobId: calling.jobId, leaseToken: calling.leaseToken, kind: .complete(outcome: .answered), call: call, agent: "a"),
                JobRequest(jobId: claimed.jobId, leaseToken: claimed.leaseToken, kind: .dialing, agent: "b"),
            ], retry: RetryPolicy(), rules: rules)
        guard case .dialing(let d) = out[1] else {
            Issue.record("\(out)")
            return
        }
        #expect(!d.allowed && d.rule == "suppressed" && d.status == .skipped, "\(d)")
        let states = try db.scalar(
            "SELECT string_agg(status || ':' || coalesce(result ->> 'reason', result ->> 'outcome', '-'), ' ' ORDER BY id) FROM campaign.campaign_jobs")
        #expect(states == "COMPLETED:ANSWERED SKIPPED:opted_out SKIPPED:opted_out SKIPPED:suppressed QUEUED:-", "\(states ?? "")")
        #expect(try db.scalar("SELECT string_agg(external_ref || '=' || status, ' ' ORDER BY id) FROM campaign.customers")
            == "a=OPTED_OUT b=OPTED_OUT other=ACTIVE")
        #expect(try db.scalar("SELECT reason || ' | ' || source || ' | ' || added_by FROM campaign.suppressions")
            == "opted out on a call | call simulate c-1 | agent:a")
        #expect(try db.scalar("SELECT action || ' ' || by FROM campaign.suppression_changes") == "added agent:a")
        // The call itself is logged.
        #expect(try db.scalar("SELECT count(*) FROM campaign.call_logs WHERE job_id = \(ids[0])") == "1")
    }
}
