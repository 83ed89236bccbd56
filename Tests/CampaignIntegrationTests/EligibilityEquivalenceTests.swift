import CampaignCore
import CampaignProtocol
import CampaignStore
import CampaignTestSupport
import Foundation
import Testing

// DESIGN §5: "The rules exist once as a pure Swift policy (the reference) and once as SQL (the
// bulk path); randomized tests hold the two to the same answers."
//
// Thousands of customers over many IANA zones (DST on both hemispheres, half- and quarter-hour
// offsets, both sides of the date line), with every status, valid and tricky invalid phones, open
// jobs, jobs for some campaign-local date and last calls at and around the cooldown boundary, are
// classified by the SQL (`classifyCustomers`, the body of `automation.run`) and by
// `EligibilityPolicy` at many instants — random ones and ones around DST changes and local
// midnights — under several settings. The Swift side is built from the rows read back from the
// database, so both judge identical data; every disagreement is reported with the customer, its
// zone, the instant and both answers.
//
// The seed is random per run and printed with every failure; set ELIGIBILITY_SEED to replay one.

/// Zones whose rules have been stable for years, so Foundation's ICU data and PostgreSQL's
/// system tzdata agree (no Africa/Casablanca, Asia/Tehran, America/Mexico_City, Asia/Gaza, Europe/Kyiv).
private let equivalenceZones = [
    // DST, northern and southern hemisphere
    "America/New_York", "Europe/London", "Europe/Berlin", "Australia/Sydney", "America/Santiago", "Pacific/Auckland",
    // half- and quarter-hour offsets (some with DST, Lord Howe's is a half hour)
    "Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide", "Pacific/Chatham", "America/St_Johns",
    "Australia/Lord_Howe",
    // both sides of the date line
    "Pacific/Kiritimati", "Pacific/Tongatapu", "Pacific/Pago_Pago", "Pacific/Honolulu",
    // plain, fixed (POSIX sign: Etc/GMT+12 is UTC−12) and link names
    "UTC", "Asia/Tokyo", "Etc/GMT+12", "Etc/GMT-14", "US/Pacific", "America/Argentina/Buenos_Aires",
]

/// Zones with DST whose 2026 transitions are probed.
private let dstZones = [
    "America/New_York", "Europe/London", "Europe/Berlin", "Australia/Sydney", "America/Santiago", "Pacific/Auckland",
    "Pacific/Chatham", "America/St_Johns", "Australia/Lord_Howe", "Australia/Adelaide", "US/Pacific",
]

/// NANP area codes of the law's rules and around them: Florida, Oklahoma, New York, Ontario,
/// Quebec, toll-free (no region: US and Canada both), the Bahamas (a NANP country of no rule) and
/// 555 (not assigned).
private let nanpAreaCodes = ["305", "239", "405", "918", "212", "416", "514", "800", "242", "555"]

/// Stated regions: the rules' own, subdivisions of the same countries without a rule, another
/// country, a country alone.
private let statedRegions = ["US-FL", "US-OK", "US-NY", "US", "CA", "CA-ON", "CA-QC", "MX", "GB-ENG"]

/// Invalid (or almost valid) phones: upsert normalises nothing, so they reach the table as written.
private let trickyPhones = [
    "", "+", "+0123456789", "+1234567", "+1234567890123456", "12125550100", "0012125550100", "+1 212 555 0100",
    "+1-212-555-0100", "+12125550100\n", " +12125550100", "+12125550100 ", "++12125550100", "+1212555010x",
    "+١٢١٢٥٥٥٠١٠٠", "+１２１２５５５０１００", "+12125550１00", "+1\u{0301}2125550100", "+12125550100\r\n",
    // valid extremes
    "+12345678", "+123456789012345", "+99999999",
]

/// A customer as the database holds it, read back for the Swift side.
private struct CustomerRow {
    var id: Int64
    var ref: String
    var status: String
    var phone: String
    var timezone: String
    var region: String?
    /// Whether the database has worked out its jurisdiction (NULL: judged by the strictest floor).
    var jurisdictionKnown: Bool
    var lastCalledText: String?
    var lastCalledAt: Date?
    var hasOpenJob: Bool
    var autoDates: [String]
    /// The starts of the calls to its number (any customer's, any campaign's).
    var numberCalls: [Date] = []
    /// Its number's suppression: nil when none, else its expiry in microseconds since 1970 (nil inside: never).
    var suppression: Int64?? = nil
    var hasConsent = false

    var summary: String {
        "id=\(self.id) ref=\(self.ref) zone=\(self.timezone) status=\(self.status) phone=\(self.phone.debugDescription) "
            + "region=\(self.region ?? "none") jurisdiction=\(self.jurisdictionKnown ? "known" : "NULL") "
            + "last_called_at=\(self.lastCalledText ?? "null") open=\(self.hasOpenJob) auto_dates=\(self.autoDates)"
    }
}

/// The Swift side's answer: a reason (nil: eligible), or why it could not judge.
private enum Verdict: Equatable {
    case reason(String?)
    case error(String)

    var text: String {
        switch self {
        case .reason(let r): r ?? "eligible"
        case .error(let e): "error: \(e)"
        }
    }
}

private struct Variant {
    var label: String
    var settings: AutomationSettings

    init(
        _ label: String, tz: String, start: String, end: String, days: [Int], cooldown: Int,
        windows: [WindowSetting] = [], blackout: [String] = [], numberPer24h: Int = 0, numberPerDay: Int = 0,
        requireConsent: Bool = false
    ) {
        self.label = label
        var s = AutomationSettings()
        s.requireConsent = requireConsent
        s.maxCallsPerNumberPer24h = numberPer24h
        s.maxCallsPerNumberPerDay = numberPerDay
        s.timezone = tz
        s.workingHoursStart = start
        s.workingHoursEnd = end
        s.workingDays = days
        s.cooldownMinutes = cooldown
        s.dailyCap = 10_000_000
        s.windows = windows
        s.blackoutDates = blackout
        self.settings = s
    }

    var policy: EligibilityPolicy {
        EligibilityPolicy(
            windows: self.settings.callingWindows!, cooldownSeconds: self.settings.cooldownMinutes * 60,
            requireConsent: self.settings.requireConsent)
    }
}

private let variants: [Variant] = [
    Variant(
        "9-18 Mon-Fri, cooldown 1440, campaign UTC", tz: "UTC", start: "09:00", end: "18:00", days: [1, 2, 3, 4, 5],
        cooldown: 1440),
    Variant(
        "00-24 every day, cooldown 0, 2 calls per number per 24 h, campaign Kiritimati", tz: "Pacific/Kiritimati",
        start: "00:00", end: "24:00", days: [1, 2, 3, 4, 5, 6, 7], cooldown: 0, numberPer24h: 2),
    Variant(
        "00-24 every day, cooldown 0, 1 call per number per local day, consent required, campaign UTC", tz: "UTC",
        start: "00:00", end: "24:00", days: [1, 2, 3, 4, 5, 6, 7], cooldown: 0, numberPerDay: 1, requireConsent: true),
    Variant(
        "22-24 weekends, cooldown 60, campaign Pago Pago", tz: "Pacific/Pago_Pago", start: "22:00", end: "24:00",
        days: [6, 7], cooldown: 60),
    Variant(
        "9-18 Mon-Fri, cooldown 60, campaign New York", tz: "America/New_York", start: "09:00", end: "18:00",
        days: [1, 2, 3, 4, 5], cooldown: 60),
    Variant(
        "01:30-03:00 every day (DST hours), cooldown 1440, campaign Berlin", tz: "Europe/Berlin", start: "01:30",
        end: "03:00", days: [1, 2, 3, 4, 5, 6, 7], cooldown: 1440),
    Variant(
        "08:45-20:15 Mon-Sat, cooldown 60, campaign Lord Howe", tz: "Australia/Lord_Howe", start: "08:45", end: "20:15",
        days: [1, 2, 3, 4, 5, 6], cooldown: 60),
    // Several windows a day and blackout dates (the older fields then say nothing).
    Variant(
        "09-12 + 14-19 Mon-Fri, 10-13 Sat, blackout 2026-06-15 and 2026-12-25, cooldown 60, campaign New York",
        tz: "America/New_York", start: "09:00", end: "18:00", days: [1], cooldown: 60,
        windows: [
            .init(days: [1, 2, 3, 4, 5], start: "09:00", end: "12:00"),
            .init(days: [1, 2, 3, 4, 5], start: "14:00", end: "19:00"), .init(days: [6], start: "10:00", end: "13:00"),
        ],
        blackout: ["2026-06-15", "2026-12-25"]),
    Variant(
        "00:00-02:30 + 22:00-24:00 every day (across DST and midnight), blackout 2026-03-08 and 2026-10-25, cooldown 0, campaign Berlin",
        tz: "Europe/Berlin", start: "09:00", end: "18:00", days: [1], cooldown: 0,
        windows: [
            .init(days: [1, 2, 3, 4, 5, 6, 7], start: "00:00", end: "02:30"),
            .init(days: [1, 2, 3, 4, 5, 6, 7], start: "22:00", end: "24:00"),
        ],
        blackout: ["2026-03-08", "2026-10-25"]),
]

/// ISO 8601 with microseconds, for messages.
private func iso(_ d: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: d) + String(format: " (epoch %.7f)", d.timeIntervalSince1970)
}

private func epoch(_ text: String) -> Date {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.date(from: text)!
}

/// An instant `whole` seconds plus a whole number of microseconds after the epoch: exactly what
/// `%.6f` gives back, so the SQL and Swift judge the same instant.
private func instant(_ whole: Double, micros: Int) -> Date {
    Date(timeIntervalSince1970: whole + Double(micros) / 1_000_000)
}

private func runSeed() -> UInt64 {
    if let s = ProcessInfo.processInfo.environment["ELIGIBILITY_SEED"], let v = UInt64(s) { return v }
    return UInt64.random(in: 1...UInt64.max)
}

@Suite("Eligibility: the SQL path and the Swift policy agree")
struct EligibilityEquivalenceTests {
    // MARK: Data

    /// Inserts `count` customers and their jobs; returns the ids of the jobs that carry an `auto_date`.
    private static func populate(
        _ db: TestDatabase, _ store: PostgresJobStore, count: Int, rng: inout SplitMix64
    ) async throws -> [Int64] {
        let otherStatuses = CustomerStatus.allCases.filter { $0 != .active }
        var customers: [ValidCustomer] = []
        customers.reserveCapacity(count)
        for i in 0..<count {
            let status: CustomerStatus =
                Int.random(in: 0..<100, using: &rng) < 75
                ? .active : otherStatuses[Int.random(in: 0..<otherStatuses.count, using: &rng)]
            let phone: String
            let kind = Int.random(in: 0..<100, using: &rng)
            if kind < 10, !customers.isEmpty {
                // A number another customer has too (the caps count the number, not the customer).
                phone = customers[Int.random(in: 0..<customers.count, using: &rng)].phone
            } else if kind < 18 {
                phone = trickyPhones[Int.random(in: 0..<trickyPhones.count, using: &rng)]
            } else if kind < 50 {
                phone = "+1" + nanpAreaCodes[Int.random(in: 0..<nanpAreaCodes.count, using: &rng)]
                    + String((0..<7).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
            } else {
                let n = Int.random(in: 8...15, using: &rng)
                phone =
                    "+" + String(Int.random(in: 1...9, using: &rng))
                    + String((1..<n).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
            }
            customers.append(
                ValidCustomer(
                    externalRef: String(format: "e-%05d", i), name: "Customer \(i)", phone: phone,
                    timezone: equivalenceZones[i % equivalenceZones.count], status: status, attributesJSON: nil,
                    region: Int.random(in: 0..<100, using: &rng) < 25
                        ? statedRegions[Int.random(in: 0..<statedRegions.count, using: &rng)] : nil,
                    consentJSON: Bool.random(using: &rng)
                        ? #"{"basis": "prior_express_written", "obtainedAt": "2026-01-01T00:00:00Z"}"# : nil))
        }
        for start in stride(from: 0, to: count, by: 10_000) {
            _ = try await store.upsertCustomers(Array(customers[start..<min(start + 10_000, count)]))
        }
        // Some rows as an older coordinator would have written them: no jurisdiction worked out.
        _ = try db.connect().query(unsafeSQL: "UPDATE campaign.customers SET jurisdiction = NULL WHERE id % 29 = 0")

        // Jobs: an "open" candidate for about 35 %, an automatic (dated) one for about 30 %; their
        // statuses are then spread over all five, so "has an open job" and "has a dated job" vary
        // independently (a dated job that is still open makes open_job win over today's job).
        var plainItems: [EnqueueItem] = []
        var autoItems: [EnqueueItem] = []
        for i in 0..<count {
            let ref = String(format: "e-%05d", i)
            if Int.random(in: 0..<100, using: &rng) < 35 {
                plainItems.append(EnqueueItem(customerRef: ref, queueJobId: "plain:\(ref)"))
            }
            if Int.random(in: 0..<100, using: &rng) < 30 {
                autoItems.append(EnqueueItem(customerRef: ref, queueJobId: "auto:\(ref)"))
            }
        }
        let plainIds = try await store.enqueue(plainItems, defaultMaxAttempts: 3).compactMap(\.jobId)
        let autoIds = try await store.enqueue(autoItems, defaultMaxAttempts: 3).compactMap(\.jobId)
        #expect(plainIds.count == plainItems.count && autoIds.count == autoItems.count)
        let statuses = ["QUEUED", "ACTIVE", "COMPLETED", "FAILED", "SKIPPED"]
        var jobIds: [Int64] = []
        var jobStatuses: [String] = []
        for id in plainIds {
            jobIds.append(id)
            jobStatuses.append(statuses[Int.random(in: 0..<statuses.count, using: &rng)])
        }
        for id in autoIds {
            jobIds.append(id)
            // Mostly finished: an open dated job is counted as open_job first.
            jobStatuses.append(
                Int.random(in: 0..<100, using: &rng) < 80
                    ? ["COMPLETED", "FAILED", "SKIPPED"][Int.random(in: 0..<3, using: &rng)]
                    : statuses[Int.random(in: 0..<2, using: &rng)])
        }
        try db.connect().query(unsafeSQL: 
            """
            UPDATE campaign.campaign_jobs j SET
                status = v.s::campaign.campaign_job_status,
                phase = CASE WHEN v.s = 'ACTIVE' THEN 'CLAIMED'::campaign.job_phase END,
                attempts_made = CASE WHEN v.s = 'QUEUED' THEN 0 ELSE 1 END,
                lease_owner = CASE WHEN v.s = 'ACTIVE' THEN 'equivalence-test' END,
                lease_token = CASE WHEN v.s = 'ACTIVE' THEN gen_random_uuid() END,
                lease_expires_at = CASE WHEN v.s = 'ACTIVE' THEN now() + interval '1 day' END
            FROM unnest($1::bigint[], $2::text[]) AS v(id, s)
            WHERE j.id = v.id
            """, [PGArray.encode(jobIds), PGArray.encode(jobStatuses)])
        return autoIds
    }

    /// Moves the time-dependent data to `at`: each dated job gets the UTC date of `at` minus one,
    /// plus zero or plus one day (whether that is "today" depends on the campaign zone), and about
    /// two thirds of the customers a last call relative to `at` — at, just inside and just outside
    /// each variant's cooldown, or anywhere from an hour ahead to three days back.
    private static func moveData(
        _ db: TestDatabase, customerIds: [Int64], autoJobIds: [Int64], at: Date, rng: inout SplitMix64
    ) throws {
        let conn = try db.connect()
        let atText = String(format: "%.6f", at.timeIntervalSince1970)
        let offsets = autoJobIds.map { _ in Int.random(in: -1...1, using: &rng) }
        try conn.query(unsafeSQL: 
            """
            UPDATE campaign.campaign_jobs j SET auto_date = (to_timestamp($1::float8) AT TIME ZONE 'UTC')::date + v.off
            FROM unnest($2::bigint[], $3::int[]) AS v(id, off) WHERE j.id = v.id
            """, [atText, PGArray.encode(autoJobIds), PGArray.encode(offsets)])
        let cooldowns = Set(variants.map { $0.settings.cooldownMinutes * 60 }).sorted()
        let edges = [0.0, -0.000001, 0.000001, -1, 1]
        let ago: [String?] = customerIds.map { _ in
            switch Int.random(in: 0..<100, using: &rng) {
            case ..<33: return nil
            case ..<60:
                let c = Double(cooldowns[Int.random(in: 0..<cooldowns.count, using: &rng)])
                return String(format: "%.6f", c + edges[Int.random(in: 0..<edges.count, using: &rng)])
            default:
                return String(
                    format: "%.6f", Double(Int.random(in: -3_600_000_000...259_200_000_000, using: &rng)) / 1_000_000)
            }
        }
        try conn.query(unsafeSQL: 
            """
            UPDATE campaign.customers c
            SET last_called_at = to_timestamp($1::float8) - make_interval(secs => v.ago::float8)
            FROM unnest($2::bigint[], $3::text[]) AS v(id, ago) WHERE c.id = v.id
            """, [atText, PGArray.encode(customerIds), PGArray.encode(ago)])
        // Calls to about half of the numbers, relative to `at`: exactly 24 hours back and a
        // microsecond either side, anywhere in the last three days, an hour ahead (not counted
        // yet); one to five of them, so caps of 1, 2 and 3 are met and missed.
        let phones = try conn.query(unsafeSQL: "SELECT DISTINCT phone FROM campaign.customers ORDER BY phone").all.map {
            try $0.string("phone")
        }
        var callPhones: [String] = []
        var callAgo: [String] = []
        for phone in phones where Bool.random(using: &rng) {
            for _ in 0..<Int.random(in: 1...5, using: &rng) {
                let ago: Double
                switch Int.random(in: 0..<10, using: &rng) {
                case 0: ago = 86_400
                case 1: ago = 86_400 - 0.000001
                case 2: ago = 86_400 + 0.000001
                case 3: ago = -3600
                default: ago = Double(Int.random(in: 0...259_000_000_000, using: &rng)) / 1_000_000
                }
                callPhones.append(phone)
                callAgo.append(String(format: "%.6f", ago))
            }
        }
        // Suppressions of about one number in ten: for good, expiring exactly at `at`, a
        // microsecond either side of it, an hour ahead or expired an hour ago.
        var suppressedPhones: [String] = []
        var expiries: [String?] = []
        for phone in phones where Int.random(in: 0..<10, using: &rng) == 0 {
            suppressedPhones.append(phone)
            let shifts: [Double?] = [nil, 0, 0.000001, -0.000001, 3600, -3600]
            expiries.append(shifts[Int.random(in: 0..<shifts.count, using: &rng)].map { String(format: "%.6f", $0) })
        }
        try conn.query(unsafeSQL: "DELETE FROM campaign.suppressions")
        try conn.query(unsafeSQL:
            """
            INSERT INTO campaign.suppressions (phone, reason, source, added_by, expires_at)
            SELECT v.phone, 'test', 'test', 'test', to_timestamp($1::float8) + make_interval(secs => v.shift::float8)
            FROM unnest($2::text[], $3::text[]) AS v(phone, shift)
            """, [atText, PGArray.encode(suppressedPhones), PGArray.encode(expiries)])
        try conn.query(unsafeSQL: "DELETE FROM campaign.number_calls")
        try conn.query(unsafeSQL: 
            """
            INSERT INTO campaign.number_calls (phone, at, campaign_id)
            SELECT v.phone, to_timestamp($1::float8) - make_interval(secs => v.ago::float8), 1
            FROM unnest($2::text[], $3::text[]) AS v(phone, ago)
            """, [atText, PGArray.encode(callPhones), PGArray.encode(callAgo)])
    }

    /// Every customer as the database holds it now.
    private static func readBack(_ db: TestDatabase) throws -> [CustomerRow] {
        let rows = try db.connect().query(unsafeSQL: 
            """
            SELECT c.id, c.external_ref, c.status::text AS status, c.phone, c.timezone, c.region,
                   c.jurisdiction IS NOT NULL AS jurisdiction_known, c.consent IS NOT NULL AS has_consent,
                   s.phone IS NOT NULL AS suppressed,
                   (extract(epoch FROM s.expires_at) * 1000000)::bigint::text AS suppressed_until_us,
                   extract(epoch FROM c.last_called_at)::text AS last_called,
                   EXISTS (SELECT 1 FROM campaign.campaign_jobs j
                           WHERE j.customer_id = c.id AND j.status IN ('QUEUED', 'ACTIVE')) AS open,
                   (SELECT string_agg(j.auto_date::text, ',') FROM campaign.campaign_jobs j
                     WHERE j.customer_id = c.id AND j.auto_date IS NOT NULL) AS auto_dates
            FROM campaign.customers c LEFT JOIN campaign.suppressions s ON s.phone = c.phone ORDER BY c.id
            """)
        var calls: [String: [Date]] = [:]
        for r in try db.connect().query(unsafeSQL: "SELECT phone, extract(epoch FROM at)::text AS at FROM campaign.number_calls").all {
            calls[try r.string("phone"), default: []].append(Date(timeIntervalSince1970: Double(try r.string("at"))!))
        }
        return try rows.all.map { r in
            let last = r["last_called"]
            return CustomerRow(
                id: try r.int64("id"), ref: try r.string("external_ref"), status: try r.string("status"),
                phone: try r.string("phone"), timezone: try r.string("timezone"), region: r["region"],
                jurisdictionKnown: r.bool("jurisdiction_known"), lastCalledText: last,
                lastCalledAt: last.map { Date(timeIntervalSince1970: Double($0)!) }, hasOpenJob: r.bool("open"),
                autoDates: r["auto_dates"].map { $0.split(separator: ",").map(String.init) } ?? [],
                numberCalls: calls[try r.string("phone")] ?? [],
                suppression: r.bool("suppressed") ? .some(r["suppressed_until_us"].flatMap { Int64($0) }) : nil,
                hasConsent: r.bool("has_consent"))
        }
    }

    /// The Swift policy's reason for one customer, and the policy input it was built from.
    private static func swiftReason(
        _ row: CustomerRow, _ variant: Variant, policy: EligibilityPolicy, campaignDate: String, at: Date
    ) -> Verdict {
        guard let status = CustomerStatus(rawValue: row.status) else { return .error("unknown status \(row.status)") }
        guard let zone = TimeZone(identifier: row.timezone) else {
            return .error("Foundation does not know \(row.timezone)")
        }
        let floor = row.jurisdictionKnown
            ? Jurisdictions.floor(phone: row.phone, stated: row.region)
            : Jurisdictions.floor(regions: Jurisdictions.rules.map(\.region))
        let cap = NumberFrequencyCap.combined(
            legal: floor.callsPer24h, operator: variant.settings.numberCap.per24h,
            perLocalDay: variant.settings.numberCap.perLocalDay)
        let now = at.flooredToMicroseconds
        var customer = EligibilityPolicy.Customer(
            status: status, phone: row.phone, timeZone: zone, lastCalledAt: row.lastCalledAt,
            hasOpenJob: row.hasOpenJob, hasTodaysJob: row.autoDates.contains(campaignDate),
            jurisdictionHours: floor.hours,
            numberFreeAt: cap == .none ? nil : cap.nextAllowed(after: now, calls: row.numberCalls, in: zone))
        // Suppressed unless it expired by `at` (compared in whole microseconds, as PostgreSQL does).
        let atUs = Int64((at.timeIntervalSinceReferenceDate * 1_000_000).rounded(.down)) + 978_307_200_000_000
        if case .some(let until) = row.suppression { customer.suppressed = until.map { $0 > atUs } ?? true }
        customer.hasConsent = row.hasConsent
        return .reason(policy.reason(customer, now: at)?.rawValue)
    }

    /// The instants to judge at: random ones in 2025–2027, ones within two minutes of the 2026 DST
    /// changes of the zones above (both sides of the ones DESIGN names), around local midnight on
    /// both sides of the date line, and exactly on working-hour boundaries. Sub-second parts are
    /// random whole microseconds (see `instantsWithinAMicrosecondOfABoundary` for finer ones).
    private static func instants(_ rng: inout SplitMix64) -> [(label: String, at: Date)] {
        var out: [(String, Date)] = []
        func near(_ label: String, _ t: Date, maxSeconds: Int, side: Int) {
            let micros = Int.random(in: 0...(maxSeconds * 1_000_000), using: &rng)
            out.append((label, instant(t.timeIntervalSince1970, micros: side * micros)))
        }
        // The DST changes the brief names (New York, Berlin/London, Sydney, Lord Howe, Auckland/Chatham):
        // within two minutes before and after each.
        let named = [
            "2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z", "2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z",
            "2026-04-04T14:00:00Z", "2026-04-04T15:00:00Z", "2026-04-04T16:00:00Z",
        ].map(epoch)
        for t in named {
            near("before DST change \(iso(t))", t, maxSeconds: 120, side: -1)
            near("after DST change \(iso(t))", t, maxSeconds: 120, side: 1)
        }
        out.append(("exactly New York spring forward", epoch("2026-03-08T07:00:00Z")))
        out.append(("exactly Berlin fall back", epoch("2026-10-25T01:00:00Z")))
        // Every other 2026 DST change Foundation knows of in these zones, on a random side.
        var transitions: [Date] = []
        for id in dstZones {
            var d = epoch("2026-01-01T00:00:00Z")
            while let next = TimeZone(identifier: id)!.nextDaylightSavingTimeTransition(after: d),
                next < epoch("2027-01-01T00:00:00Z")
            {
                if !transitions.contains(next) && !named.contains(next) { transitions.append(next) }
                d = next
            }
        }
        for t in transitions {
            near("DST change \(iso(t))", t, maxSeconds: 120, side: Bool.random(using: &rng) ? 1 : -1)
        }
        // Local midnight both sides of the date line: Kiritimati/Honolulu at 10:00Z, Tongatapu/Pago Pago at 11:00Z;
        // days that turn Friday→Saturday and Sunday→Monday somewhere.
        for (day, hour) in [
            ("2026-06-19", "10"), ("2026-06-19", "11"), ("2026-06-21", "10"), ("2026-06-21", "11"),
            ("2025-12-31", "10"), ("2027-01-03", "11"),
        ] {
            let t = epoch("\(day)T\(hour):00:00Z")
            near("midnight \(day) \(hour):00Z", t, maxSeconds: 120, side: Bool.random(using: &rng) ? 1 : -1)
        }
        // Exactly on working-hour boundaries.
        out.append(("09:00 Kolkata Monday", epoch("2026-06-15T03:30:00Z")))
        out.append(("18:00 New York Friday", epoch("2026-06-19T22:00:00Z")))
        out.append(("22:00 Pago Pago Saturday", epoch("2026-06-21T09:00:00Z")))
        out.append(("08:45 Lord Howe Monday", epoch("2026-06-14T22:15:00Z")))
        // The law's boundaries on a customer's clock (New York, St John's, Honolulu, Tokyo...):
        // 08:00, 09:00, 10:00, 18:00, 20:00, 21:00, 21:30 in New York, on a weekday and a Sunday.
        for (day, offsetHours) in [("2026-06-16", 4), ("2026-06-21", 4)] {
            for local in ["08:00", "09:00", "10:00", "18:00", "20:00", "21:00", "21:30"] {
                let parts = local.split(separator: ":").map { Int($0)! }
                let t = epoch("\(day)T00:00:00Z").addingTimeInterval(Double((parts[0] + offsetHours) * 3600 + parts[1] * 60))
                near("\(local) New York \(day)", t, maxSeconds: 1, side: Bool.random(using: &rng) ? 1 : -1)
                out.append(("exactly \(local) New York \(day)", t))
            }
        }
        // Random ones in 2025–2027.
        let from = epoch("2025-01-01T00:00:00Z").timeIntervalSince1970
        for _ in 0..<12 {
            let whole = from + Double(Int.random(in: 0..<(3 * 365 * 86_400), using: &rng))
            out.append(("random", instant(whole, micros: Int.random(in: 0..<1_000_000, using: &rng))))
        }
        return out
    }

    // MARK: Tests

    /// The Swift policy's reason for every row against SQL's: the disagreements, described, and
    /// how often each agreed reason was seen.
    private static func compare(
        _ rows: [CustomerRow], _ sql: [Int64: String?], _ variant: Variant, at: Date, label: String
    ) -> ([String], [String: Int]) {
        let policy = variant.policy
        let campaignDate = LocalTime(at, TimeZone(identifier: variant.settings.timezone)!).date
        var mismatches: [String] = []
        var seen: [String: Int] = [:]
        for row in rows {
            let swift = Self.swiftReason(row, variant, policy: policy, campaignDate: campaignDate, at: at)
            let sqlReason: String?? = sql[row.id]
            if case .some(let q) = sqlReason, swift == .reason(q) {
                seen[swift.text, default: 0] += 1
            } else {
                let sqlText = sqlReason.map { $0 ?? "eligible" } ?? "missing"
                mismatches.append(
                    "\(row.summary) at \(iso(at)) [\(label)] settings [\(variant.label)] campaign date \(campaignDate): "
                        + "sql=\(sqlText) swift=\(swift.text)")
            }
        }
        return (mismatches, seen)
    }

    @Test func sqlAndSwiftGiveTheSameReasonForEveryCustomer() async throws {
        let (db, store) = try await TestDatabase.migrated("elig")
        defer { db.drop() }
        let seed = runSeed()
        var rng = SplitMix64(seed: seed)
        let customerCount = 3000
        let autoJobIds = try await Self.populate(db, store, count: customerCount, rng: &rng)
        // The blocking reads and writes and the comparisons run on Dispatch threads (`blocking`):
        // this test's minutes of work must not hold the cooperative threads that the in-process
        // coordinators of the suites running beside it need.
        let customerIds = try await blocking { try Self.readBack(db).map(\.id) }
        #expect(customerIds.count == customerCount)

        let instants = Self.instants(&rng)
        var mismatches: [String] = []
        var compared = 0
        var seen: [String: Int] = [:]
        for (label, at) in instants {
            let before = rng
            let (rows, after) = try await blocking {
                var rng = before
                try Self.moveData(db, customerIds: customerIds, autoJobIds: autoJobIds, at: at, rng: &rng)
                return (try Self.readBack(db), rng)
            }
            rng = after
            for variant in variants {
                let sql = try await store.classifyCustomers(variant.settings, at: at)
                #expect(sql.count == rows.count, "classify returned \(sql.count) of \(rows.count) customers")
                let (wrong, agreed) = await blocking { Self.compare(rows, sql, variant, at: at, label: label) }
                compared += rows.count
                mismatches += wrong
                seen.merge(agreed, uniquingKeysWith: +)
            }
        }
        print(
            "eligibility equivalence: seed \(seed): \(customerCount) customers × \(instants.count) instants × \(variants.count) settings = \(compared) comparisons, \(mismatches.count) mismatches; agreed reasons \(seen.sorted { $0.key < $1.key })"
        )
        #expect(
            mismatches.isEmpty,
            "seed \(seed) (ELIGIBILITY_SEED=\(seed) to replay): \(mismatches.count) of \(compared) disagree; first ones:\n\(mismatches.prefix(10).joined(separator: "\n"))"
        )
        // The data reach every rule and eligibility, or the comparison proves little.
        for reason in EligibilityPolicy.Reason.allCases where reason != .dailyCap {
            #expect((seen[reason.rawValue] ?? 0) > 0, "no customer was judged \(reason.rawValue) (seed \(seed))")
        }
        #expect((seen["eligible"] ?? 0) > 0, "no customer was eligible (seed \(seed))")
    }

    @Test func automationRunDryRunCountsAgreeWithThePolicy() async throws {
        let (db, store) = try await TestDatabase.migrated("eligrun")
        defer { db.drop() }
        let seed = runSeed()
        var rng = SplitMix64(seed: seed)
        let autoJobIds = try await Self.populate(db, store, count: 2000, rng: &rng)
        let customerIds = try Self.readBack(db).map(\.id)
        let jobsBefore = try db.scalar("SELECT count(*) FROM campaign.campaign_jobs")
        // Six of the special instants, and a Tuesday morning in Europe.
        var instants = Array(Self.instants(&rng).filter { $0.label != "random" }.shuffled(using: &rng).prefix(6))
        let micros = Int.random(in: 0..<1_000_000, using: &rng)
        instants.append(
            (label: "Tuesday 10:00Z", at: instant(epoch("2026-06-16T10:00:00Z").timeIntervalSince1970, micros: micros)))
        var failures: [String] = []
        for (label, at) in instants {
            try Self.moveData(db, customerIds: customerIds, autoJobIds: autoJobIds, at: at, rng: &rng)
            let rows = try Self.readBack(db)
            for variant in variants {
                let counts = try await store.automationRun(variant.settings, dryRun: true, at: at)
                let policy = variant.policy
                let campaignDate = LocalTime(at, TimeZone(identifier: variant.settings.timezone)!).date
                var byReason: [String: Int] = [:]
                var eligible = 0
                for row in rows {
                    switch Self.swiftReason(row, variant, policy: policy, campaignDate: campaignDate, at: at) {
                    case .reason(.none): eligible += 1
                    case .reason(.some(let r)): byReason[r, default: 0] += 1
                    case .error(let e): byReason["error: \(e)", default: 0] += 1
                    }
                }
                let context = "at \(iso(at)) [\(label)] settings [\(variant.label)] seed \(seed)"
                if counts.byReason != byReason || counts.eligible != eligible {
                    failures.append(
                        "\(context): sql eligible=\(counts.eligible) \(counts.byReason.sorted { $0.key < $1.key }) swift eligible=\(eligible) \(byReason.sorted { $0.key < $1.key })"
                    )
                }
                if counts.date != campaignDate {
                    failures.append("\(context): sql date \(counts.date), swift \(campaignDate)")
                }
                // The cap is far away: a dry run picks every eligible customer and enqueues nothing.
                if counts.picked != eligible || counts.enqueued != 0 {
                    failures.append(
                        "\(context): picked \(counts.picked) enqueued \(counts.enqueued), eligible \(eligible)")
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) disagreements:\n\(failures.prefix(10).joined(separator: "\n"))")
        #expect(try db.scalar("SELECT count(*) FROM campaign.campaign_jobs") == jobsBefore, "a dry run created jobs")
    }

    /// The SQL is handed the instant as `%.6f` epoch text, the Swift policy the `Date` itself. An
    /// instant a fraction of a microsecond before a working-hour start, a cooldown's end or local
    /// midnight must be judged on the same side of it by both.
    @Test func instantsWithinAMicrosecondOfABoundary() async throws {
        let (db, store) = try await TestDatabase.migrated("eligusec")
        defer { db.drop() }
        _ = try await store.upsertCustomers([
            ValidCustomer(
                externalRef: "utc", name: "", phone: "+442079460958", timezone: "UTC", status: .active,
                attributesJSON: nil),
            ValidCustomer(
                externalRef: "kolkata", name: "", phone: "+912212345678", timezone: "Asia/Kolkata", status: .active,
                attributesJSON: nil),
            ValidCustomer(
                externalRef: "recent", name: "", phone: "+442079460959", timezone: "UTC", status: .active,
                attributesJSON: nil),
            ValidCustomer(
                externalRef: "dated", name: "", phone: "+442079460960", timezone: "UTC", status: .active,
                attributesJSON: nil),
        ])
        _ = try await store.enqueue(
            [EnqueueItem(customerRef: "dated", queueJobId: "dated:2026-06-16")], defaultMaxAttempts: 3)
        let conn = try db.connect()
        try conn.query(unsafeSQL: 
            "UPDATE campaign.campaign_jobs SET status = 'COMPLETED', attempts_made = 1, auto_date = '2026-06-16'")
        // Last call of `recent`: 2026-06-15 10:00:00 UTC exactly; cooldown 60 min ends at 11:00:00.
        try conn.query(unsafeSQL: 
            "UPDATE campaign.customers SET last_called_at = '2026-06-15 10:00:00+00' WHERE external_ref = 'recent'")
        let rows = try Self.readBack(db)

        let everyDay = Variant(
            "00:00-24:00 every day, cooldown 60, campaign UTC", tz: "UTC", start: "00:00", end: "24:00",
            days: [1, 2, 3, 4, 5, 6, 7], cooldown: 60)
        let nineToSix = Variant(
            "09:00-18:00 Mon-Fri, cooldown 60, campaign UTC", tz: "UTC", start: "09:00", end: "18:00",
            days: [1, 2, 3, 4, 5], cooldown: 60)
        let cases: [(String, Date, Variant)] = [
            (
                "09:00 UTC − 0.4 µs",
                Date(timeIntervalSince1970: epoch("2026-06-15T09:00:00Z").timeIntervalSince1970 - 0.0000004), nineToSix
            ),
            (
                "09:00 Kolkata − 0.4 µs",
                Date(timeIntervalSince1970: epoch("2026-06-15T03:30:00Z").timeIntervalSince1970 - 0.0000004), nineToSix
            ),
            (
                "cooldown end − 0.4 µs",
                Date(timeIntervalSince1970: epoch("2026-06-15T11:00:00Z").timeIntervalSince1970 - 0.0000004), everyDay
            ),
            (
                "campaign midnight − 0.4 µs",
                Date(timeIntervalSince1970: epoch("2026-06-16T00:00:00Z").timeIntervalSince1970 - 0.0000004), everyDay
            ),
            (
                "18:00 UTC − 0.4 µs",
                Date(timeIntervalSince1970: epoch("2026-06-15T18:00:00Z").timeIntervalSince1970 - 0.0000004), nineToSix
            ),
        ]
        var mismatches: [String] = []
        for (label, at, variant) in cases {
            let sql = try await store.classifyCustomers(variant.settings, at: at)
            let campaignDate = LocalTime(at, TimeZone(identifier: variant.settings.timezone)!).date
            for row in rows {
                let swift = Self.swiftReason(row, variant, policy: variant.policy, campaignDate: campaignDate, at: at)
                let q = sql[row.id].map { $0 ?? "eligible" } ?? "missing"
                let s = swift.text
                if q != s {
                    mismatches.append("\(label): \(row.summary) at \(iso(at)) [\(variant.label)]: sql=\(q) swift=\(s)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) disagreements:\n\(mismatches.joined(separator: "\n"))")
    }

    /// Working-hour fields that settings validation (`WorkingHours.parse`) accepts must mean the
    /// same to the SQL, which reads them as PostgreSQL `time`.
    @Test func workingHourSpellingsThatValidationAcceptsMeanTheSameInSQL() async throws {
        let (db, store) = try await TestDatabase.migrated("eligspell")
        defer { db.drop() }
        _ = try await store.upsertCustomers([
            ValidCustomer(
                externalRef: "utc", name: "", phone: "+442079460958", timezone: "UTC", status: .active,
                attributesJSON: nil)
        ])
        let rows = try Self.readBack(db)
        var mismatches: [String] = []
        for (start, end) in [
            ("09:00", "18:00"), ("09:05", "18:00"), ("+9:05", "18:00"), ("09:+5", "18:00"), ("-0:00", "18:00"),
            ("09:00", "+18:00"), ("09:00", "18:+0"),
        ] {
            let v = Variant(
                "\(start)-\(end) Mon-Fri", tz: "UTC", start: start, end: end, days: [1, 2, 3, 4, 5], cooldown: 0)
            guard v.settings.problems().isEmpty else { continue }  // refused on write: never reaches the SQL
            // Monday 2026-06-15, every 30 s from 08:59 to 09:07 UTC.
            for step in 0...16 {
                let at = Date(
                    timeIntervalSince1970: epoch("2026-06-15T08:59:00Z").timeIntervalSince1970 + Double(step * 30))
                let campaignDate = LocalTime(at, TimeZone(identifier: "UTC")!).date
                let sqlText: String
                do {
                    let sql = try await store.classifyCustomers(v.settings, at: at)
                    sqlText = sql[rows[0].id].map { $0 ?? "eligible" } ?? "missing"
                } catch {
                    sqlText = "error: \(error)"
                }
                let swiftText = Self.swiftReason(rows[0], v, policy: v.policy, campaignDate: campaignDate, at: at).text
                if sqlText != swiftText {
                    mismatches.append(
                        "start \(start.debugDescription) end \(end.debugDescription) at \(iso(at)): sql=\(sqlText) swift=\(swiftText)"
                    )
                }
            }
        }
        #expect(
            mismatches.isEmpty, "\(mismatches.count) disagreements:\n\(mismatches.prefix(12).joined(separator: "\n"))")
    }
}
