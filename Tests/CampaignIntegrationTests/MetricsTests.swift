import CampaignMetrics
import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

/// The metrics' own parts: the strict reader of the text format the end-to-end tests rely on
/// (it must refuse what a scraper would, or those tests could not fail), the families' output
/// as the reference parser reads it, and `--metrics-listen` addresses.
@Suite("Metrics")
struct MetricsTests {
    @Test func theStrictReaderRefusesWhatAScraperWould() throws {
        let good = """
            # HELP x_total Things.
            # TYPE x_total counter
            x_total{a="1"} 3
            x_total{a="q\\"uote\\\\d\\n"} 0
            # TYPE h histogram
            h_bucket{le="0.5"} 1
            h_bucket{le="+Inf"} 2
            h_sum 0.7
            h_count 2

            """
        let m = try PrometheusText(parsing: good)
        #expect(m.value("x_total", ["a": "1"]) == 3)
        #expect(m.value("x_total", ["a": "q\"uote\\d\n"]) == 0)
        #expect(m.value("h_count") == 2 && m.families["h"]?.type == "histogram")
        let bad: [(String, String)] = [
            ("no newline at the end", "x 1"),
            ("a name starting with a digit", "1x 1\n"),
            ("a bad label name", "x{1a=\"v\"} 1\n"),
            ("an unknown escape", "x{a=\"\\t\"} 1\n"),
            ("an unterminated value", "x{a=\"v} 1\n"),
            ("no value", "x{a=\"v\"}\n"),
            ("a value that is not a number", "x one\n"),
            ("the same series twice", "x{a=\"1\"} 1\nx{a=\"1\"} 2\n"),
            ("a negative counter", "# TYPE c counter\nc -1\n"),
            ("TYPE after a sample", "x 1\n# TYPE x gauge\n"),
            ("a family split in two", "# TYPE x gauge\nx{a=\"1\"} 1\n# TYPE y gauge\ny 1\nx{a=\"2\"} 1\n"),
            ("two HELP lines", "# HELP x a\n# HELP x b\nx 1\n"),
            ("an unknown type", "# TYPE x meter\nx 1\n"),
            ("buckets whose counts fall", "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n"),
            ("no +Inf bucket", "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_count 3\n"),
            ("_count not the +Inf bucket", "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 3\nh_count 4\n"),
        ]
        for (why, text) in bad {
            #expect(throws: PrometheusText.Violation.self, "\(why)") { try PrometheusText(parsing: text) }
        }
        // The reference parser refuses garbage too (it is really asked).
        #expect(throws: (any Error).self) { try PrometheusText.referenceSamples("x{a=\"v} 1\n") }
    }

    @Test func familiesPrintWhatBothReadersRead() throws {
        let registry = MetricsRegistry()
        let calls = CounterFamily(registry, "campaign_calls_total", labels: ["campaign", "outcome"], help: "Calls.")
        let waits = CounterFamily(registry, "campaign_waits_total", help: "Waits.")
        let pickup = SecondsHistogramFamily(registry, "campaign_pickup_seconds", buckets: MetricBuckets.latency, help: "Pickup.")
        calls.increment("default", "ANSWERED")
        calls.increment("default", "ANSWERED", by: 2)
        calls.increment("sales \"q\"", "NO_ANSWER")
        for s in [0.0005, 0.003, 0.2, 45] { pickup.record(s) }
        pickup.record(.milliseconds(20))
        let text = registry.emitToString()
        let m = try PrometheusText(parsing: text)
        #expect(m.value("campaign_calls_total", ["campaign": "default", "outcome": "ANSWERED"]) == 3)
        #expect(m.value("campaign_calls_total", ["campaign": "sales \"q\"", "outcome": "NO_ANSWER"]) == 1)
        #expect(m.value("campaign_waits_total") == 0, "a counter without labels is shown from the start")
        #expect(waits.counter([]) === waits.counter([]))
        #expect(m.value("campaign_pickup_seconds_count") == 5)
        #expect(m.value("campaign_pickup_seconds_bucket", ["le": "0.001"]) == 1)
        #expect(m.value("campaign_pickup_seconds_bucket", ["le": "0.025"]) == 3)
        #expect(m.value("campaign_pickup_seconds_bucket", ["le": "30.0"]) == 4)
        #expect(m.value("campaign_pickup_seconds_bucket", ["le": "+Inf"]) == 5)
        let reference = try PrometheusText.referenceSamples(text)
        #expect(reference.count == m.allSamples.count)
        for s in reference { #expect(m.value(s.name, s.labels) == s.value, "\(s)") }
    }

    @Test func listenAddresses() {
        #expect(MetricsAddress(parsing: "127.0.0.1:9464") == MetricsAddress(host: "127.0.0.1", port: 9464))
        #expect(MetricsAddress(parsing: ":9464") == MetricsAddress(host: "127.0.0.1", port: 9464))
        #expect(MetricsAddress(parsing: "[::1]:9464") == MetricsAddress(host: "::1", port: 9464))
        #expect(MetricsAddress(parsing: "[::1]:9464")?.description == "[::1]:9464")
        #expect(MetricsAddress(parsing: "0.0.0.0:0") == MetricsAddress(host: "0.0.0.0", port: 0))
        for bad in ["9464", "host:", "host:65536", "host:-1", "a b:1", "x/y:2"] {
            #expect(MetricsAddress(parsing: bad) == nil, "\(bad)")
        }
    }
}
