import CampaignCore
import CampaignProtocol
import Foundation

/// The counters of one batch's dialing checks, taken under the limits lock and kept up to date
/// as the batch admits calls: the provider's (``DialAdmission``) and each campaign's
/// (``CampaignAdmission``); the admission itself is theirs to decide.
struct DialLimiter {
    var provider: DialAdmission
    var campaigns: [Int64: CampaignAdmission]
    let now: Date
    /// The database's clock of this batch as it gave it: the instant the starts are recorded at.
    let nowEpoch: String
    let rules: DialRules
    /// Each campaign's zone (its daily cap's day), read once per batch.
    let zones: [Int64: TimeZone]
    /// The law's floors of the batch's customers.
    private var floors = Jurisdictions.FloorCache()
    /// Call starts admitted in this batch, by number (they count for the batch's later jobs, and
    /// are recorded with the batch).
    private(set) var numberStarts: [(phone: String, campaignId: Int64)] = []
    private var batchCallsByNumber: [String: Int] = [:]
    /// Numbers whose opt-out a report of this batch brings: suppressed for the batch's checks
    /// already (the suppression is written with the batch).
    var optedOut: Set<String> = []
    /// The pre-dial check's refusals and deferrals of this batch, for the audit (`dial_refusals`).
    private(set) var refusals: [SQL.DialRefusalsInsert.Refusal] = []
    /// Call starts admitted in this batch, per campaign.
    private(set) var started: [Int64: Int] = [:]

    /// Adds the dial-limits lock and the counters under it to a pipeline; ``init(_:rules:)``
    /// reads the counters' rows from the slot answered.
    static func lock(in pipeline: inout Pipeline, _ rules: DialRules) throws -> Pipeline.Slot<SQL.DialCounters> {
        try pipeline.add(SQL.DialLimitsLock())
        let ids = rules.campaignIds
        return try pipeline.add(SQL.DialCounters(
            campaignIds: ids, timezones: ids.map { rules.campaigns[$0]!.timezone },
            windowSeconds: rules.rateWindow.seconds))
    }

    init(_ counters: [SQL.DialCounters.Row], rules: DialRules) {
        let first = counters.first
        self.provider = DialAdmission(
            dialing: first?.dialing ?? 0, inWindow: first?.window ?? 0, callsToday: 0,
            maxConcurrentCalls: rules.maxConcurrentCalls, callsPerSecond: rules.callsPerSecond)
        self.nowEpoch = first?.nowEpoch ?? String(Date().timeIntervalSince1970)
        self.now = Date(timeIntervalSince1970: Double(self.nowEpoch) ?? Date().timeIntervalSince1970)
        self.rules = rules
        var campaigns: [Int64: CampaignAdmission] = [:]
        for row in counters {
            guard let id = row.campaignId, let r = rules.campaigns[id] else { continue }
            campaigns[id] = CampaignAdmission(
                dialing: row.campaignDialing, callsToday: row.today, maxConcurrentCalls: r.maxConcurrentCalls)
        }
        self.campaigns = campaigns
        self.zones = rules.campaigns.mapValues { TimeZone(identifier: $0.timezone) ?? TimeZone(identifier: "UTC")! }
    }

    /// Records the batch's call starts, the one home of "a call started" (besides the jobs'
    /// own DIALING rows): the customers are marked called (their cooldown counts from now) and
    /// the starts counted at the batch's instant, per campaign.
    /// With them, the batch's refusals for the audit.
    func record(customers: [Int64], in pipeline: inout Pipeline) throws {
        if !self.refusals.isEmpty { try pipeline.add(SQL.DialRefusalsInsert(refusals: self.refusals)) }
        guard !customers.isEmpty else { return }
        try pipeline.add(SQL.CustomersMarkCalled(customerIds: customers))
        if !self.numberStarts.isEmpty { try pipeline.add(SQL.NumberCallsAdd(atEpoch: self.nowEpoch, starts: self.numberStarts)) }
        try pipeline.add(SQL.DialCountersAdd(
            atEpoch: self.nowEpoch, counts: self.started.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))
    }

    /// The business rules for this job's customer and campaign, now (the campaign's state and
    /// daily cap included), under the law where the customer is (``Jurisdictions``).
    mutating func verdict(for job: LockedJob) -> JobStateMachine.DialVerdict {
        switch job.campaignGate {
        case .ended: return .refused(rule: JobStateMachine.campaignEndedReason)
        case .paused: return .deferred(rule: "campaign_paused", until: self.now)
        case .notStarted(let at): return .deferred(rule: "campaign_not_started", until: at)
        case .open: break
        }
        // A campaign this coordinator has not read yet (just created): ask again shortly.
        guard let campaignZone = self.zones[job.campaignId], let campaign = self.rules.campaigns[job.campaignId] else {
            return .deferred(rule: "campaign_not_loaded", until: self.now.addingTimeInterval(5))
        }
        var facts = job.customerFacts
        facts.suppressed = facts.suppressed || self.optedOut.contains(job.phone)
        guard let (customer, _, _) = facts.policyCustomer(
            campaign: campaign, now: self.now, alsoCalledNow: self.batchCallsByNumber[job.phone] ?? 0, floors: &self.floors)
        else { return .refused(rule: "unknown_timezone") }
        return campaign.policy.dialVerdict(
            customer, attempt: job.machine.snapshot.attemptsMade,
            callsToday: self.campaigns[job.campaignId]?.callsToday ?? 0, dailyCap: campaign.dailyCap,
            campaignTimeZone: campaignZone, now: self.now)
    }

    /// Notes a refusal (`until` nil) or deferral of the pre-dial check for the audit, with who
    /// asked (the agent).
    mutating func noteRefusal(_ job: LockedJob, rule: String, until: Date?, by: String) {
        self.refusals.append(.init(
            jobId: job.id, campaignId: job.campaignId, customerId: job.customerId, phone: job.phone, rule: rule,
            until: until, by: by))
    }

    /// Whether the campaign's own limit leaves room for a call now.
    func hasRoom(campaign: Int64) -> Bool {
        (self.campaigns[campaign]?.slack ?? 0) > 0
    }

    /// Whether the provider's limits leave room for a call now.
    var providerHasRoom: Bool { self.provider.slack > 0 }

    /// Takes one call slot of the campaign and of the provider for a call to `phone`; nil when
    /// admitted (and counted for the number), else how long to wait (ms).
    mutating func admit(campaign: Int64, phone: String) -> Int? {
        guard var c = self.campaigns[campaign] else { return 1000 }
        let wait = c.admit(under: &self.provider)
        self.campaigns[campaign] = c
        if wait == nil {
            self.started[campaign, default: 0] += 1
            self.numberStarts.append((phone, campaign))
            self.batchCallsByNumber[phone, default: 0] += 1
        }
        return wait
    }
}
