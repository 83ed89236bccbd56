import CampaignCore
import CampaignMetrics
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import NIOConcurrencyHelpers

/// The coordinator's metrics (Prometheus text, README "Monitoring").
///
/// Counters and histograms are this process's: what it dispatched (calls logged, refusals at
/// the pre-dial check, provider-limit waits, pickup), told by the store after each committed
/// batch, and every request the router dispatched. Gauges of the queue are read from
/// PostgreSQL when the metrics are asked for, so every coordinator shows the same queue.
public final class CoordinatorMetrics: DispatchObserver, RPCInstrumentation, Sendable {
    public let registry: MetricsRegistry
    /// A campaign's name from its id (the settings cache knows every campaign it has leased from).
    let campaignName: @Sendable (Int64) -> String

    let calls: CounterFamily
    let callDuration: SecondsHistogramFamily
    let refusals: CounterFamily
    let providerLimitWaits: CounterFamily
    let pickup: SecondsHistogramFamily
    let rpcRequests: CounterFamily
    let rpcDuration: SecondsHistogramFamily

    init(registry: MetricsRegistry, campaignName: @escaping @Sendable (Int64) -> String) {
        self.registry = registry
        self.campaignName = campaignName
        let r = registry
        self.calls = CounterFamily(
            r, "campaign_calls_total", labels: ["campaign", "outcome"],
            help: "Calls logged by this coordinator (one per placed call), by campaign and outcome.")
        self.callDuration = SecondsHistogramFamily(
            r, "campaign_call_duration_seconds", buckets: MetricBuckets.call,
            help: "Duration of the calls logged by this coordinator.")
        self.refusals = CounterFamily(
            r, "campaign_dial_refusals_total", labels: ["campaign", "rule"],
            help: "Pre-dial checks that said no (refused, or deferred until allowed), by campaign and rule.")
        self.providerLimitWaits = CounterFamily(
            r, "campaign_provider_limit_waits_total",
            help: "Leases and pre-dial checks held back by a provider limit (calls at once, calls per second).")
        self.pickup = SecondsHistogramFamily(
            r, "campaign_pickup_seconds", buckets: MetricBuckets.latency,
            help: "From when a job was due to when this coordinator leased it.")
        self.rpcRequests = CounterFamily(
            r, "campaign_rpc_requests_total", labels: ["method", "code"],
            help: "JSON-RPC requests handled, by method and result (OK or the error's code name).")
        self.rpcDuration = SecondsHistogramFamily(
            r, "campaign_rpc_duration_seconds", labels: ["method"], buckets: MetricBuckets.latency,
            help: "Time to handle a JSON-RPC request (a long poll's wait included).")
    }

    // MARK: Recorded as things happen

    public func committed(_ facts: DispatchFacts) {
        for c in facts.calls {
            self.calls.increment(self.campaignName(c.campaignId), c.outcome)
            if let d = c.durationSeconds { self.callDuration.record(d) }
        }
        for r in facts.refusals { self.refusals.increment(self.campaignName(r.campaignId), r.rule) }
        if facts.providerLimitWaits > 0 { self.providerLimitWaits.increment(by: facts.providerLimitWaits) }
        for s in facts.pickupSeconds { self.pickup.record(s) }
    }

    public func handled(method: String, code: String, duration: Duration) {
        self.rpcRequests.increment(method, code)
        self.rpcDuration.record(duration, method)
    }

    // MARK: Read when asked

    /// What the gauges show at one instant.
    struct Snapshot {
        var agents: Int
        var leader: Bool
        var version: String
        /// `events.subscribe` subscriptions open on this coordinator.
        var subscriptions = 0
        /// Nil when the database did not answer: the queue gauges keep their last values, and
        /// `campaign_database_up` says 0.
        var queue: Queue?

        struct Queue {
            var campaigns: [CampaignRecord]
            var counts: PostgresJobStore.JobCounts
            var oldestDue: [Int64: Double]
            var calls: [Int64: (dialing: Int, today: Int)]
            var providerMaxConcurrentCalls: Int
            /// The newest eventId.
            var eventHead: Int64
        }
    }

    /// Sets the gauges from `s` and prints every metric in the Prometheus text format.
    func render(_ s: Snapshot) -> String {
        let r = self.registry
        r.setGauge("campaign_agents_connected", help: "Agents connected to this coordinator.", to: Double(s.agents))
        r.setGauge("campaign_leader", help: "1 while this coordinator holds the maintenance leader lock.", to: s.leader ? 1 : 0)
        r.setGauge(
            "campaign_database_up", help: "1 when PostgreSQL answered the reads of this scrape.", to: s.queue == nil ? 0 : 1)
        r.setGauge("campaign_coordinator_info", [("version", s.version)], help: "This coordinator's version (always 1).", to: 1)
        r.setGauge(
            "campaign_event_subscriptions", help: "events.subscribe subscriptions open on this coordinator.",
            to: Double(s.subscriptions))
        if let q = s.queue {
            for c in q.campaigns {
                let counts = q.counts.byCampaign[c.id] ?? QueueCounts()
                for status in JobStatus.allCases {
                    r.setGauge(
                        "campaign_jobs", [("campaign", c.name), ("status", status.rawValue)],
                        help: "Jobs by campaign and status (from the database: the same on every coordinator).",
                        to: Double(counts[status]))
                }
                r.setGauge(
                    "campaign_jobs_outcome_unknown", [("campaign", c.name)],
                    help: "Jobs FAILED outcome_unknown: a call may have happened, its end was not learnt (never redialed by itself).",
                    to: Double(q.counts.outcomeUnknown[c.id] ?? 0))
                r.setGauge(
                    "campaign_jobs_due_oldest_seconds", [("campaign", c.name)],
                    help: "How long the longest-waiting due QUEUED job of the campaign has been due (0: none due).",
                    to: q.oldestDue[c.id] ?? 0)
                r.setGauge(
                    "campaign_calls_dialing", [("campaign", c.name)], help: "Calls in progress (jobs DIALING), by campaign.",
                    to: Double(q.calls[c.id]?.dialing ?? 0))
                r.setGauge(
                    "campaign_calls_today", [("campaign", c.name)],
                    help: "Calls started since midnight in the campaign's timezone (what its daily cap counts).",
                    to: Double(q.calls[c.id]?.today ?? 0))
                r.setGauge(
                    "campaign_campaign_active", [("campaign", c.name)], help: "1 while the campaign is ACTIVE, 0 while PAUSED or ENDED.",
                    to: c.status == .active ? 1 : 0)
            }
            r.setGauge(
                "campaign_provider_max_concurrent_calls",
                help: "The provider's limit of calls at once, all campaigns together (the default campaign's maxConcurrentCalls).",
                to: Double(q.providerMaxConcurrentCalls))
            r.setGauge(
                "campaign_event_head", help: "The newest eventId of the event stream (compare a subscriber's last one).",
                to: Double(q.eventHead))
        }
        return r.emitToString()
    }
}

extension Coordinator {
    /// Every metric in the Prometheus text format: this process's counters, and gauges of the
    /// queue read from the database now.
    public func renderMetrics() async -> String {
        var snapshot = CoordinatorMetrics.Snapshot(
            agents: self.sessions.count, leader: self.isLeader.withLockedValue { $0 }, version: self.configuration.version,
            subscriptions: self.events.subscriberCount)
        do {
            let book = try await self.settingsCache.book()
            let counts = try await self.store.counts(timezone: book.default.settings.timezone)
            let oldest = try await self.store.oldestDue()
            let calls = try await self.store.callCounts(book.campaigns.map { ($0.id, $0.settings.timezone) })
            let events = try await self.store.eventBounds()
            self.database.succeeded()
            snapshot.queue = .init(
                campaigns: book.campaigns, counts: counts, oldestDue: oldest, calls: calls,
                providerMaxConcurrentCalls: book.default.settings.maxConcurrentCalls, eventHead: events.last)
        } catch {
            if let e = error as? StoreError, e.isUnavailable { self.database.unreachable(e, during: "metrics") }
        }
        return self.metrics.render(snapshot)
    }
}
