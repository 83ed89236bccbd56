import CoreMetrics  // MetricsSystem
import NIOConcurrencyHelpers
import Prometheus

/// The registry both daemons record into and `metrics` / `GET /metrics` print.
///
/// Metrics are made through swift-prometheus's registry itself, not through swift-metrics'
/// `MetricsSystem`: only the registry takes a metric's HELP text and its own buckets. (The
/// executables also bootstrap `MetricsSystem` with a factory on the same registry, so what a
/// library records through swift-metrics lands in the same output.)
public typealias MetricsRegistry = PrometheusCollectorRegistry

/// Counters of one name, one per set of label values, each made once and kept: the registry
/// validates the name and hashes the labels on every lookup, which a request path need not pay.
public final class CounterFamily: Sendable {
    let registry: MetricsRegistry
    let name: String
    let labels: [String]
    let help: String
    private let made = NIOLockedValueBox<[[String]: Prometheus.Counter]>([:])

    public init(_ registry: MetricsRegistry, _ name: String, labels: [String] = [], help: String) {
        self.registry = registry
        self.name = name
        self.labels = labels
        self.help = help
        if labels.isEmpty { _ = self.counter([]) }  // a counter without labels is shown from the start, at 0
    }

    /// Adds `n` to the counter of these label values (in the order of `labels`).
    public func increment(_ values: String..., by n: Int = 1) {
        self.counter(values).increment(by: Int64(n))
    }

    /// The counter of these label values, made at 0 if new (so it is shown before anything happens).
    @discardableResult
    public func counter(_ values: [String]) -> Prometheus.Counter {
        if let c = self.made.withLockedValue({ $0[values] }) { return c }
        precondition(values.count == self.labels.count, "\(self.name): \(self.labels.count) label values expected")
        let c = self.registry.makeCounter(name: self.name, labels: Array(zip(self.labels, values)), help: self.help)
        self.made.withLockedValue { $0[values] = c }
        return c
    }
}

/// Histograms of one name in seconds, one per set of label values (see ``CounterFamily``).
public final class SecondsHistogramFamily: Sendable {
    let registry: MetricsRegistry
    let name: String
    let labels: [String]
    let help: String
    let buckets: [Double]
    private let made = NIOLockedValueBox<[[String]: ValueHistogram]>([:])

    public init(_ registry: MetricsRegistry, _ name: String, labels: [String] = [], buckets: [Double], help: String) {
        self.registry = registry
        self.name = name
        self.labels = labels
        self.help = help
        self.buckets = buckets
        if labels.isEmpty { _ = self.histogram([]) }
    }

    /// Records `seconds` in the histogram of these label values.
    public func record(_ seconds: Double, _ values: String...) {
        self.histogram(values).record(seconds)
    }

    public func record(_ duration: Duration, _ values: String...) {
        let (s, attoseconds) = duration.components
        self.histogram(values).record(Double(s) + Double(attoseconds) / 1e18)
    }

    @discardableResult
    public func histogram(_ values: [String]) -> ValueHistogram {
        if let h = self.made.withLockedValue({ $0[values] }) { return h }
        precondition(values.count == self.labels.count, "\(self.name): \(self.labels.count) label values expected")
        let h = self.registry.makeValueHistogram(
            name: self.name, labels: Array(zip(self.labels, values)), buckets: self.buckets, help: self.help)
        self.made.withLockedValue { $0[values] = h }
        return h
    }
}

/// Buckets shared by the histograms, in seconds.
public enum MetricBuckets {
    /// Request handling and pickup: 1 ms … 30 s.
    public static let latency: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
    /// Calls: 1 s … 30 min.
    public static let call: [Double] = [1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800]
}

extension MetricsRegistry {
    /// Sets the gauge `name` with these labels to `value` (made on first use, with `help`).
    public func setGauge(_ name: String, _ labels: [(String, String)] = [], help: String, to value: Double) {
        self.makeGauge(name: name, labels: labels, help: help).set(to: value)
    }

    /// A registry that is also swift-metrics' global one (``MetricsSystem``), so what a library
    /// records through swift-metrics is printed with the daemon's own metrics. Once per process:
    /// the executables call it, tests make plain registries.
    public static func bootstrapped() -> MetricsRegistry {
        let registry = MetricsRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }
}
