import CampaignMetrics
import NIOConcurrencyHelpers

/// An agent's metrics (`GET /metrics` of its `--metrics-listen`): this process's calls, reports
/// and link, read from the runner's counters when asked, and its calls by outcome as they end.
public final class AgentMetrics: Sendable {
    public let registry: MetricsRegistry
    let calls: CounterFamily
    let callDuration: SecondsHistogramFamily
    private let reportsDelivered: CounterFamily
    private let reportsDropped: CounterFamily
    private let notDialed: CounterFamily
    let lookups: CounterFamily
    /// What the runner's counters were at the last render (counters move by the difference).
    private let shown = NIOLockedValueBox(AgentRunner.Stats())

    public init(registry: MetricsRegistry? = nil) {
        let registry = registry ?? MetricsRegistry()
        self.registry = registry
        let r = registry
        self.calls = CounterFamily(
            r, "campaign_agent_calls_total", labels: ["outcome"],
            help: "Calls this agent placed, by outcome (UNKNOWN: its end was not learnt; NOT_PLACED: certainly no call).")
        self.callDuration = SecondsHistogramFamily(
            r, "campaign_agent_call_duration_seconds", buckets: MetricBuckets.call,
            help: "From the placer's start to its end, per call this agent placed.")
        self.reportsDelivered = CounterFamily(
            r, "campaign_agent_reports_delivered_total", help: "Reports the coordinator accepted.")
        self.reportsDropped = CounterFamily(
            r, "campaign_agent_reports_dropped_total",
            help: "Reports refused for good (lease lost) or given up (patience or shutdown grace over).")
        self.notDialed = CounterFamily(
            r, "campaign_agent_not_dialed_total", help: "Leased jobs the pre-dial check refused or deferred.")
        self.lookups = CounterFamily(
            r, "campaign_agent_lookups_total", labels: ["answer"],
            help: "Lookups of unknown outcomes at the provider, by answer (ended, not_placed, unknown).")
    }

    /// Sets the gauges from `runner` and prints every metric in the Prometheus text format.
    public func render(_ runner: AgentRunner) -> String {
        let s = runner.stats.withLockedValue { $0 }
        let before = self.shown.withLockedValue { old in
            defer { old = s }
            return old
        }
        self.reportsDelivered.increment(by: max(0, s.reportsDelivered - before.reportsDelivered))
        self.reportsDropped.increment(by: max(0, s.reportsDropped - before.reportsDropped))
        self.notDialed.increment(by: max(0, s.skippedBeforeDial - before.skippedBeforeDial))
        let r = self.registry
        r.setGauge("campaign_agent_calls_in_progress", help: "Calls this agent is on now.", to: Double(s.onCalls))
        r.setGauge(
            "campaign_agent_capacity", help: "Calls this agent may be on at once.", to: Double(runner.configuration.capacity))
        r.setGauge(
            "campaign_agent_spooled_reports",
            help: "Reports of ended calls the coordinator has not settled yet (in the spool, or in memory without one).",
            to: Double(s.pendingReports))
        r.setGauge(
            "campaign_agent_coordinator_connected", help: "1 while the link to the coordinator is up.",
            to: runner.link.isConnected ? 1 : 0)
        return r.emitToString()
    }
}
