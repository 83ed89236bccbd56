import CampaignCore
import CampaignProtocol
import CampaignStore
import CampaignTestSupport
import Foundation
import Testing

/// `customers.explain` (issue 15) agrees with what the run and the pre-dial check do: for every
/// customer of a randomized population, at instants over a day, its `runReason` is the reason
/// `automation.run`'s SQL gives; and its `dial` is what a lease with the pre-dial check then
/// does to the customer's job.
@Suite("customers.explain")
struct ExplainTests {
    static let phones = [
        "+13055550", "+14055550", "+12125550", "+14165550", "+18005550", "+44207946", "+33199000",
    ]

    /// Customers of every kind the rules look at: Florida, Oklahoma, New York, Ontario, toll-free,
    /// UK and French numbers, some shared; stated regions; statuses; consent; suppressions; last
    /// calls around the cooldown; calls to the number around the caps.
    static func populate(_ db: TestDatabase, _ store: PostgresJobStore, count: Int, rng: inout SplitMix64) async throws {
        let zones = ["America/New_York", "America/Chicago", "America/Toronto", "Europe/London", "Asia/Tokyo", "Pacific/Honolulu"]
        var customers: [ValidCustomer] = []
        for i in 0..<count {
            let prefix = Self.phones[Int.random(in: 0..<Self.phones.count, using: &rng)]
            let phone = prefix + String(format: "%0\(12 - prefix.count)d", Int.random(in: 0..<40, using: &rng))
            customers.append(ValidCustomer(
                externalRef: "x-\(i)", name: "", phone: phone, timezone: zones[Int.random(in: 0..<zones.count, using: &rng)],
                status: Int.random(in: 0..<10, using: &rng) == 0 ? .optedOut : .active, attributesJSON: nil,
                region: [nil, nil, nil, "US-FL", "CA", "US-NY"][Int.random(in: 0..<6, using: &rng)],
                consentJSON: Bool.random(using: &rng) ? #"{"basis": "prior_express_written", "obtainedAt": "2026-01-01T00:00:00.000Z"}"# : nil))
        }
        _ = try await store.upsertCustomers(customers)
        let conn = try db.connect()
        _ = try conn.query(unsafeSQL: """
            UPDATE campaign.customers SET last_called_at = now() - make_interval(mins => ((id * 37) % 180)::int) WHERE id % 3 = 0
            """)
        _ = try conn.query(unsafeSQL: """
            INSERT INTO campaign.number_calls (phone, at, campaign_id)
            SELECT phone, now() - make_interval(mins => ((id * 53) % 2000)::int), 1 FROM campaign.customers WHERE id % 4 = 0
            UNION ALL
            SELECT phone, now() - make_interval(mins => ((id * 17) % 900)::int), 1 FROM campaign.customers WHERE id % 8 = 0
            """)
        _ = try conn.query(unsafeSQL: """
            INSERT INTO campaign.suppressions (phone, reason, source, added_by, expires_at)
            SELECT DISTINCT phone, 'test', 'test', 'test', CASE WHEN id % 2 = 0 THEN now() + interval '1 day' END
            FROM campaign.customers WHERE id % 11 = 0
            ON CONFLICT DO NOTHING
            """)
    }

    static var settings: AutomationSettings {
        var s = AutomationSettings.wideOpen
        s.windows = [.init(days: [1, 2, 3, 4, 5, 6, 7], start: "07:00", end: "22:00")]
        s.cooldownMinutes = 60
        s.maxCallsPerNumberPer24h = 2
        s.requireConsent = true
        return s
    }

    @Test func explainAgreesWithTheRunOverADay() async throws {
        let (db, store) = try await TestDatabase.migrated("explainrun")
        defer { db.drop() }
        var rng = SplitMix64(seed: UInt64(Date().timeIntervalSince1970))
        try await Self.populate(db, store, count: 300, rng: &rng)
        let settings = Self.settings
        try await store.writeSettings(settings, by: "test")
        let rules = CampaignRules(
            policy: EligibilityPolicy(windows: settings.callingWindows!, cooldownSeconds: 3600, requireConsent: true),
            dailyCap: settings.dailyCap, timezone: "UTC", maxConcurrentCalls: 1000, numberCap: settings.numberCap)
        let ids = try db.connect().query(unsafeSQL: "SELECT id FROM campaign.customers ORDER BY id").all.map { try $0.int64("id") }
        var mismatches: [String] = []
        var seen: [String: Int] = [:]
        // Every other hour of the coming day, a random minute and microsecond into it.
        let start = (Date().timeIntervalSince1970 / 3600).rounded(.down) * 3600
        for hour in stride(from: 0, to: 24, by: 2) {
            let at = Date(timeIntervalSince1970: start + Double(hour * 3600) + Double(Int.random(in: 0..<3_600_000_000, using: &rng)) / 1_000_000)
            let sql = try await store.classifyCustomers(settings, at: at)
            for id in ids {
                let e = try #require(try await store.explain(
                    id: id, externalRef: nil, campaignId: CampaignRecord.defaultID, campaignName: "default", rules: rules, at: at))
                let expected: String?? = sql[id]
                guard case .some(let reason) = expected, reason == e.runReason else {
                    mismatches.append("customer \(id) at \(Timestamp.string(at)): sql \(String(describing: expected)), explain \(e.runReason ?? "eligible")")
                    continue
                }
                seen[reason ?? "eligible", default: 0] += 1
                // The verdicts agree with the reason: the first rule that failed is it.
                if let first = e.rules.first(where: { !$0.passed && $0.rule != "daily_cap" }) {
                    #expect(first.rule == reason, "customer \(id)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(20))")
        for reason in ["not_active", "suppressed", "no_consent", "outside_working_hours", "jurisdiction_hours", "cooldown", "number_frequency", "eligible"] {
            #expect((seen[reason] ?? 0) > 0, "\(reason) never seen: \(seen)")
        }
    }

    @Test func explainSaysWhatThePreDialCheckDoes() async throws {
        let (db, store) = try await TestDatabase.migrated("explaindial")
        defer { db.drop() }
        var rng = SplitMix64(seed: UInt64(Date().timeIntervalSince1970) ^ 0x5eed)
        try await Self.populate(db, store, count: 200, rng: &rng)
        let settings = Self.settings
        let rules = CampaignRules(
            policy: EligibilityPolicy(windows: settings.callingWindows!, cooldownSeconds: 3600, requireConsent: true),
            dailyCap: settings.dailyCap, timezone: "UTC", maxConcurrentCalls: 100_000, numberCap: settings.numberCap)
        let dialRules = DialRules(maxConcurrentCalls: 100_000, callsPerSecond: 100_000, campaigns: [CampaignRecord.defaultID: rules])
        // One job per customer with a number no other customer has (a batch's own calls to a
        // shared number count for its later jobs; explain judges one customer alone).
        let refs = try db.connect().query(unsafeSQL: """
            SELECT external_ref FROM campaign.customers c
            WHERE (SELECT count(*) FROM campaign.customers d WHERE d.phone = c.phone) = 1 ORDER BY id
            """).all.map { try $0.string("external_ref") }
        let jobIds = try await store.enqueue(refs.map { EnqueueItem(customerRef: $0, queueJobId: "j-\($0)") }, defaultMaxAttempts: 3)
            .compactMap(\.jobId)
        #expect(jobIds.count == refs.count && refs.count > 20)
        var expected: [Int64: (dial: String, rule: String?)] = [:]
        for (ref, job) in zip(refs, jobIds) {
            let e = try #require(try await store.explain(
                id: nil, externalRef: ref, campaignId: CampaignRecord.defaultID, campaignName: "default", rules: rules, at: nil))
            expected[job] = (e.dial, e.dialRule)
        }
        let answer = try await store.lease([LeaseRequest(owner: "a", max: 1000, dial: true)], leaseSeconds: 30, rules: dialRules)
        let leased = Set(answer[0].jobs.map(\.jobId))
        let refused = Dictionary(uniqueKeysWithValues: answer[0].refused.map { ($0.jobId, $0.rule) })
        let deferred = try db.connect().query(unsafeSQL: """
            SELECT id, result ->> 'reason' AS rule FROM campaign.campaign_jobs WHERE status = 'QUEUED'
            """).all.reduce(into: [Int64: String]()) { $0[try $1.int64("id")] = $1["rule"] }
        var kinds: [String: Int] = [:]
        for (job, e) in expected {
            let actual: (String, String?) = leased.contains(job) ? ("allowed", nil)
                : refused[job].map { ("refused", $0) } ?? deferred[job].map { ("deferred", $0) } ?? ("missing", nil)
            #expect(actual.0 == e.dial && actual.1 == e.rule, "job \(job): pre-dial \(actual), explain \(e)")
            kinds[e.dial, default: 0] += 1
        }
        #expect(kinds.count == 3, "allowed, deferred and refused all seen: \(kinds)")
    }
}
