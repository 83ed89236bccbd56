import CampaignCore
import CampaignProtocol
import Foundation

// MARK: customers.explain

extension SQL {
    /// Everything the rules read of one customer for one campaign at one instant (`$at_us`,
    /// microseconds since 1970; NULL: now): its facts as the pre-dial check reads them, its
    /// suppression, its open job, its automatic job of the campaign day, and the campaign's calls
    /// today and jobs not yet dialing (the cap left of `automation.run`).
    struct CustomerExplainFacts: Statement {
        static let sql = StatementSQL(
            "customer_explain_facts",
            """
            WITH at AS (
                SELECT coalesce('epoch'::timestamptz + $at_us::bigint * interval '1 microsecond', now()) AS t
            ), day AS (
                SELECT (at.t AT TIME ZONE $timezone)::date AS d,
                       (date_trunc('day', at.t AT TIME ZONE $timezone) AT TIME ZONE $timezone) AS start
                FROM at
            )
            SELECT c.id, c.external_ref, c.status::text AS status, c.phone, c.timezone, c.region,
                   extract(epoch FROM c.last_called_at)::float8 AS last_called_epoch,
                   campaign.ts(c.last_called_at) AS last_called_at,
                   c.consent IS NOT NULL AS has_consent, c.consent ->> 'basis' AS consent_basis,
                   s.phone IS NOT NULL AND (s.expires_at IS NULL OR s.expires_at > at.t) AS suppressed,
                   s.reason AS suppression_reason, s.source AS suppression_source,
                   campaign.ts(s.expires_at) AS suppression_expires,
                   (SELECT string_agg(extract(epoch FROM n.at)::text, ',' ORDER BY n.at) FROM campaign.number_calls n
                     WHERE n.phone = c.phone AND n.at > at.t - interval '3 days' AND n.at <= at.t) AS number_calls,
                   (SELECT min(j.id) FROM campaign.campaign_jobs j
                     WHERE j.customer_id = c.id AND j.status IN ('QUEUED', 'ACTIVE')) AS open_job,
                   (SELECT min(j.id) FROM campaign.campaign_jobs j, day
                     WHERE j.customer_id = c.id AND j.campaign_id = $campaign_id::bigint AND j.auto_date = day.d) AS todays_job,
                   (SELECT coalesce(sum(q.n), 0) FROM campaign.dial_counts_quarter q, day
                     WHERE q.campaign_id = $campaign_id::bigint AND q.bucket > day.start - interval '15 minutes') AS calls_today,
                   (SELECT count(*) FROM campaign.campaign_jobs
                     WHERE campaign_id = $campaign_id::bigint
                       AND (status = 'QUEUED' OR (status = 'ACTIVE' AND phase = 'CLAIMED'))) AS pending,
                   extract(epoch FROM at.t)::float8 AS at_epoch, day.d::text AS day
            FROM campaign.customers c CROSS JOIN at CROSS JOIN day
            LEFT JOIN campaign.suppressions s ON s.phone = c.phone
            WHERE ($id::bigint IS NOT NULL AND c.id = $id::bigint)
               OR ($external_ref::text IS NOT NULL AND c.external_ref = $external_ref::text)
            """)
        var id: Int64?
        var externalRef: String?
        var campaignId: Int64
        var timezone: String
        var at: Date?

        func bind(_ b: inout Bindings) {
            b.bind("id", self.id)
            b.bind("external_ref", self.externalRef)
            b.bind("campaign_id", self.campaignId)
            b.bind("timezone", self.timezone)
            b.bind("at_us", self.at.map { String(Int64(($0.timeIntervalSinceReferenceDate * 1_000_000).rounded(.down)) + 978_307_200_000_000) })
        }

        struct Row {
            var facts: CustomerFacts
            var id: Int64
            var externalRef: String
            var lastCalledAt: String?
            var consentBasis: String?
            var suppression: (reason: String?, source: String?, expires: String?)
            var openJob: Int64?
            var todaysJob: Int64?
            var callsToday: Int
            var pending: Int
            var atEpoch: Double
            var day: String
        }

        static func decode(_ r: PQRow) throws -> Row {
            let facts = CustomerFacts(
                status: CustomerStatus(rawValue: try r.string("status")) ?? .invalidNumber, phone: try r.string("phone"),
                timezone: try r.string("timezone"), region: r["region"],
                lastCalledEpoch: r["last_called_epoch"].flatMap(Double.init),
                numberCalls: r["number_calls"].map { $0.split(separator: ",").compactMap { Double($0) } } ?? [],
                suppressed: r.bool("suppressed"), hasConsent: r.bool("has_consent"))
            return Row(
                facts: facts, id: try r.int64("id"), externalRef: try r.string("external_ref"), lastCalledAt: r["last_called_at"],
                consentBasis: r["consent_basis"], suppression: (r["suppression_reason"], r["suppression_source"], r["suppression_expires"]),
                openJob: r["open_job"].flatMap { Int64($0) }, todaysJob: r["todays_job"].flatMap { Int64($0) },
                callsToday: try r.int("calls_today"), pending: try r.int("pending"),
                atEpoch: Double(try r.string("at_epoch")) ?? 0, day: try r.string("day"))
        }
    }
}

/// The answer of `customers.explain`, built from the facts with the pre-dial check's own code
/// (``CustomerFacts/policyCustomer(campaign:now:alsoCalledNow:floors:)``, the campaign's
/// ``EligibilityPolicy``). Pure once the facts are read.
struct Explanation {
    var facts: CustomerFacts
    var campaign: CampaignRules
    var campaignName: String
    var at: Date
    var customerId: Int64
    var externalRef: String
    var lastCalledAt: String?
    var consentBasis: String?
    var suppression: (reason: String?, source: String?, expires: String?)
    var openJob: Int64?
    var todaysJob: Int64?
    var day: String
    var callsToday: Int
    var pending: Int

    func result() -> ExplainCustomer.Result {
        var floors = Jurisdictions.FloorCache()
        let atText = Timestamp.string(self.at)
        guard let (customer, floor, cap) = self.facts.policyCustomer(campaign: self.campaign, now: self.at, floors: &floors) else {
            return ExplainCustomer.Result(
                customerId: self.customerId, externalRef: self.externalRef, campaign: self.campaignName, at: atText,
                rules: [], runReason: "unknown_timezone", dial: "refused", dialRule: "unknown_timezone", nextAllowedAt: nil,
                jurisdiction: [], rulesVersion: Jurisdictions.version)
        }
        let policy = self.campaign.policy
        var forRun = customer
        forRun.hasOpenJob = self.openJob != nil
        forRun.hasTodaysJob = self.todaysJob != nil
        let local = LocalTime(self.at, customer.timeZone)
        let clock = String(format: "%02d:%02d", local.secondOfDay / 3600, local.secondOfDay / 60 % 60)
        let weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][local.isoWeekday - 1]
        let onClock = "\(weekday) \(local.date) \(clock) on the customer's clock (\(self.facts.timezone))"
        var rules: [ExplainCustomer.RuleVerdict] = []
        for rule in EligibilityPolicy.Reason.allCases {
            let passed = rule == .dailyCap ? self.callsToday < self.campaign.dailyCap : policy.passes(rule, forRun, now: self.at)
            rules.append(.init(rule: rule.rawValue, passed: passed, detail: self.detail(rule, floor: floor, cap: cap, customer: customer, onClock: onClock)))
        }
        // As automation.run counts it: the first rule it fails, then the cap left.
        let capLeft = self.campaign.dailyCap - self.callsToday - self.pending
        let runReason = policy.reason(forRun, now: self.at)?.rawValue ?? (capLeft <= 0 ? EligibilityPolicy.Reason.dailyCap.rawValue : nil)
        let verdict = policy.dialVerdict(
            customer, attempt: 1, callsToday: self.callsToday, dailyCap: self.campaign.dailyCap,
            campaignTimeZone: TimeZone(identifier: self.campaign.timezone) ?? TimeZone(identifier: "UTC")!, now: self.at)
        let (dial, dialRule, next): (String, String?, String?)
        switch verdict {
        case .allowed: (dial, dialRule, next) = ("allowed", nil, atText)
        case .refused(let rule): (dial, dialRule, next) = ("refused", rule, nil)
        case .deferred(let rule, let until): (dial, dialRule, next) = ("deferred", rule, Timestamp.string(until))
        }
        return ExplainCustomer.Result(
            customerId: self.customerId, externalRef: self.externalRef, campaign: self.campaignName, at: atText,
            rules: rules, runReason: runReason, dial: dial, dialRule: dialRule, nextAllowedAt: next,
            jurisdiction: floor.regions, rulesVersion: Jurisdictions.version)
    }

    func detail(
        _ rule: EligibilityPolicy.Reason, floor: JurisdictionFloor, cap: NumberFrequencyCap, customer: EligibilityPolicy.Customer,
        onClock: String
    ) -> String {
        switch rule {
        case .notActive: return "status \(self.facts.status.rawValue)"
        case .invalidPhone: return "phone \(self.facts.phone)"
        case .suppressed:
            guard self.suppression.reason != nil else { return "not on the suppression list" }
            let until = self.suppression.expires.map { "until \($0)" } ?? "for good"
            return "on the list \(until): \(self.suppression.reason ?? "") (\(self.suppression.source ?? ""))"
                + (self.facts.suppressed ? "" : ", expired")
        case .noConsent:
            let onRecord = self.consentBasis.map { "consent on record (\($0))" } ?? "no consent on record"
            return (self.campaign.policy.requireConsent ? "the campaign requires consent; " : "not required; ") + onRecord
        case .outsideWorkingHours: return onClock
        case .jurisdictionHours:
            guard let hours = floor.hours else { return "no rule of the law's table applies" }
            return "\(floor.regions.joined(separator: ", ")): \(Self.describe(hours))"
        case .cooldown:
            guard let last = self.lastCalledAt else { return "never called" }
            return "last called \(last); cooldown \(self.campaign.policy.cooldownSeconds / 60) min"
        case .numberFrequency:
            guard cap != .none else { return "no cap applies" }
            let calls = self.facts.numberCalls.filter { $0 > self.at.timeIntervalSince1970 - 86_400 }.count
            var parts = ["\(calls) call(s) to the number in the last 24 h"]
            if let c = cap.per24h { parts.append("at most \(c) per 24 h") }
            if let c = cap.perLocalDay { parts.append("at most \(c) per local day") }
            if let free = customer.numberFreeAt, free > self.at { parts.append("next allowed \(Timestamp.string(free))") }
            return parts.joined(separator: "; ")
        case .openJob: return self.openJob.map { "job \($0) is QUEUED or ACTIVE" } ?? "no open job"
        case .alreadyEnqueuedToday: return self.todaysJob.map { "job \($0) is the automatic job of \(self.day)" } ?? "none for \(self.day)"
        case .dailyCap: return "\(self.callsToday) of \(self.campaign.dailyCap) calls today (\(self.day), \(self.campaign.timezone))"
        }
    }

    /// `09:00–21:30 Mon–Fri, 10:00–18:00 Sat–Sun`.
    static func describe(_ hours: CallingWindows) -> String {
        func hm(_ s: Int) -> String { String(format: "%02d:%02d", s / 3600, s / 60 % 60) }
        let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        return hours.windows.map { w in
            let days = w.isoWeekdays.sorted()
            let span = days == Array(1...7) ? "every day"
                : days.count > 1 && days.last! - days.first! == days.count - 1 ? "\(names[days.first! - 1])–\(names[days.last! - 1])"
                : days.map { names[$0 - 1] }.joined(separator: ",")
            return "\(hm(w.startSecond))–\(hm(w.endSecond)) \(span)"
        }.joined(separator: ", ")
    }
}

extension PostgresJobStore {
    /// `customers.explain` for one customer (by id or external ref) in the campaign `campaignId`
    /// named `campaignName` under its `rules`, at `at` (nil: now); nil when there is no such customer.
    public func explain(
        id: Int64?, externalRef: String?, campaignId: Int64, campaignName: String, rules: CampaignRules, at: Date?
    ) async throws -> ExplainCustomer.Result? {
        let rows = try await self.pool.withConnection { conn in
            try conn.rows(SQL.CustomerExplainFacts(
                id: id, externalRef: externalRef, campaignId: campaignId, timezone: rules.timezone, at: at))
        }
        guard let r = rows.first else { return nil }
        let explanation = Explanation(
            facts: r.facts, campaign: rules, campaignName: campaignName, at: at ?? Date(timeIntervalSince1970: r.atEpoch),
            customerId: r.id, externalRef: r.externalRef, lastCalledAt: r.lastCalledAt, consentBasis: r.consentBasis,
            suppression: r.suppression, openJob: r.openJob, todaysJob: r.todaysJob, day: r.day, callsToday: r.callsToday,
            pending: r.pending)
        return explanation.result()
    }
}
