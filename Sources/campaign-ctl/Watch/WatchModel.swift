import CampaignCore
import CampaignProtocol
import Foundation

/// What `campaign-ctl watch` knows: the coordinator's last snapshot (`health`, `agents.list`,
/// `metrics`) and what the event stream told since the watch began. Pure: no I/O and no clock of
/// its own (every time comes in as a parameter), so the tests drive it event by event.
struct WatchModel: Sendable {
    /// The connection to the coordinator.
    enum Link: Sendable, Equatable {
        case connecting
        case connected
        /// Gone, with why; the watch reconnects.
        case lost(String)
    }

    /// One reading of the coordinator.
    struct Snapshot: Sendable {
        var health: Health.Result
        var agents: ListAgents.Result
        var metrics: WatchMetrics
        var at: Date
    }

    /// Calls per minute count the calls ended in this window.
    static let rateWindow: TimeInterval = 60

    let startedAt: Date
    var link: Link = .connecting
    var snapshot: Snapshot?
    /// What went wrong with the last reading, when the coordinator answered with an error (its
    /// database is down, say); the snapshot before it stays shown.
    var problem: String?
    /// The coordinator's counters when the watch began (or when they last restarted from zero):
    /// refusals and provider-limit waits are shown since then.
    private(set) var baseline: WatchMetrics?
    /// The last event folded in: a reconnect resumes after it.
    private(set) var lastEventId: Int64?
    private(set) var eventsSeen = 0
    /// Events since the last snapshot: the snapshot is stale.
    private(set) var eventsSinceSnapshot = 0
    /// Per campaign: calls ended since the watch began, by outcome.
    private(set) var outcomes: [String: [String: Int]] = [:]
    /// Per campaign: when each call of the last minute ended, oldest first.
    private(set) var callEnds: [String: [Date]] = [:]
    /// Jobs last seen DIALING: their next transition ends a call.
    private(set) var dialing: Set<Int64> = []

    init(startedAt: Date) {
        self.startedAt = startedAt
    }

    /// Folds in one event (received at `now`; its own `at` places it in the rate window).
    ///
    /// A call ends when a job that was DIALING moves on: to COMPLETED, FAILED or SKIPPED, or
    /// back to QUEUED for a retry. Its outcome is the event's (the call's result), or its reason
    /// when the call's end was not learnt (`outcome_unknown`, `lease_expired`). A job seen
    /// first after its DIALING (the watch began mid-call) is not counted: nothing says it dialed.
    mutating func apply(_ e: JobEvent, now: Date) {
        if let last = self.lastEventId, e.eventId <= last { return }  // repeated after a reconnect
        self.lastEventId = e.eventId
        self.eventsSeen += 1
        self.eventsSinceSnapshot += 1
        if e.status == .active && e.phase == .dialing {
            self.dialing.insert(e.id)
            return
        }
        guard self.dialing.remove(e.id) != nil else { return }
        let outcome = e.outcome ?? e.reason ?? "unknown"
        self.outcomes[e.campaign, default: [:]][outcome, default: 0] += 1
        let at = Timestamp.parse(e.at) ?? now
        var ends = self.callEnds[e.campaign, default: []]
        // Events come in eventId order, which is commit order: `at` may step back a little.
        let i = ends.lastIndex { $0 <= at }.map { $0 + 1 } ?? 0
        ends.insert(at, at: i)
        self.callEnds[e.campaign] = ends
        self.forget(before: now)
    }

    /// Takes a new snapshot; counters that fell (the coordinator restarted) start a new baseline.
    mutating func took(_ s: Snapshot) {
        if let b = self.baseline, !s.metrics.countersAtLeast(b) {
            self.baseline = WatchMetrics()
        } else if self.baseline == nil {
            self.baseline = s.metrics
        }
        self.snapshot = s
        self.eventsSinceSnapshot = 0
    }

    /// Calls of `campaign` (all campaigns: nil) that ended in the minute before `now`.
    func callsPerMinute(_ campaign: String?, now: Date) -> Int {
        let from = now.addingTimeInterval(-Self.rateWindow)
        let lists = campaign.map { [self.callEnds[$0] ?? []] } ?? Array(self.callEnds.values)
        return lists.reduce(0) { total, ends in
            // Ascending: count from the first inside the window.
            let first = ends.firstIndex { $0 > from } ?? ends.endIndex
            return total + ends.distance(from: first, to: ends.endIndex)
        }
    }

    /// Refusals at the pre-dial check since the baseline, by rule (most first).
    func refusals(_ campaign: String) -> [(rule: String, count: Int)] {
        guard let now = self.snapshot?.metrics.refusals[campaign] else { return [] }
        let base = self.baseline?.refusals[campaign] ?? [:]
        return now.map { (rule: $0.key, count: Int(($0.value - (base[$0.key] ?? 0)).rounded())) }
            .filter { $0.count > 0 }
            .sorted { ($0.count, $1.rule) > ($1.count, $0.rule) }
    }

    /// Provider-limit waits since the baseline.
    var providerLimitWaits: Int {
        guard let now = self.snapshot?.metrics.providerLimitWaits else { return 0 }
        return Int((now - (self.baseline?.providerLimitWaits ?? 0)).rounded())
    }

    /// Calls ended since the watch began, by outcome (most first), of one campaign or all.
    func outcomeCounts(_ campaign: String?) -> [(outcome: String, count: Int)] {
        var sum: [String: Int] = [:]
        for (c, counts) in self.outcomes where campaign == nil || c == campaign {
            sum.merge(counts, uniquingKeysWith: +)
        }
        return sum.map { (outcome: $0.key, count: $0.value) }.sorted { ($0.count, $1.outcome) > ($1.count, $0.outcome) }
    }

    /// The queue has nothing left to do: no job QUEUED or ACTIVE (from a snapshot newer than the
    /// last event, so not a reading from before the last transitions).
    var drained: Bool {
        guard let q = self.snapshot?.health.queue, self.eventsSinceSnapshot == 0 else { return false }
        return q.QUEUED == 0 && q.ACTIVE == 0
    }

    /// Whether to read the coordinator again, `since` the last reading that took `lastCost`:
    /// when events made the reading `stale`, after a second; else after 5 s; and never sooner
    /// than 20 times what the last reading took, so a watch keeps to a twentieth of the
    /// coordinator's time whatever a reading costs (`health` and `metrics` count every job kept:
    /// 0.35–0.4 s each with a million jobs).
    static func readDue(since: Duration, lastCost: Duration, stale: Bool) -> Bool {
        since >= max(stale ? .seconds(1) : .seconds(5), lastCost * 20)
    }

    /// Drops the call ends more than a window old, in batches of at least 5 s of them (dropping
    /// on every event would copy the array per event: quadratic at thousands of calls a second).
    private mutating func forget(before now: Date) {
        let from = now.addingTimeInterval(-Self.rateWindow)
        for (c, ends) in self.callEnds {
            guard let first = ends.first, first <= from.addingTimeInterval(-5) else { continue }
            self.callEnds[c] = Array(ends.drop { $0 <= from })
        }
    }
}

/// The numbers `watch` takes from the coordinator's `metrics` (Prometheus text).
struct WatchMetrics: Sendable, Equatable {
    /// How long each campaign's oldest due job has waited, in seconds.
    var oldestDue: [String: Double] = [:]
    /// Jobs FAILED `outcome_unknown`, by campaign.
    var outcomeUnknown: [String: Int] = [:]
    /// The provider's calls-at-once limit, all campaigns together.
    var providerMaxConcurrentCalls: Int?
    /// Counters of the coordinator that answered (they start at zero when it starts).
    var refusals: [String: [String: Double]] = [:]
    var providerLimitWaits: Double = 0

    /// Nothing read yet: every counter at zero.
    init() {}

    init(exposition: String) throws {
        let text = try PrometheusText(parsing: exposition)
        for s in text.samples("campaign_jobs_due_oldest_seconds") {
            if let c = s.labels["campaign"] { self.oldestDue[c] = s.value }
        }
        for s in text.samples("campaign_jobs_outcome_unknown") {
            if let c = s.labels["campaign"] { self.outcomeUnknown[c] = Int(s.value) }
        }
        for s in text.samples("campaign_dial_refusals_total") {
            if let c = s.labels["campaign"], let rule = s.labels["rule"] { self.refusals[c, default: [:]][rule] = s.value }
        }
        self.providerMaxConcurrentCalls = text.value("campaign_provider_max_concurrent_calls").map { Int($0) }
        self.providerLimitWaits = text.value("campaign_provider_limit_waits_total") ?? 0
    }

    /// No counter of `base` is above its value here (else the coordinator restarted since).
    func countersAtLeast(_ base: WatchMetrics) -> Bool {
        guard self.providerLimitWaits >= base.providerLimitWaits else { return false }
        return base.refusals.allSatisfy { c, rules in rules.allSatisfy { (self.refusals[c]?[$0.key] ?? 0) >= $0.value } }
    }
}
