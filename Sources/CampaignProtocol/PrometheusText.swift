import Foundation

/// A strict reader of the Prometheus text exposition format 0.0.4 (the `metrics` method's
/// `exposition`): what a scraper would take, checked harder than most scrapers do. The tests
/// check the coordinator's and the agents' output with it; `campaign-ctl watch` reads its
/// numbers with it.
///
/// Checked: every line is a comment (`# HELP name text`, `# TYPE name type`, other `#` text) or a
/// sample `name{label="value",…} value`; names and label names match the format's grammar;
/// label values use only the `\\`, `\"` and `\n` escapes; each family has at most one HELP and
/// one TYPE, the TYPE before its first sample; a family's samples come together; no series
/// appears twice; counters are ≥ 0; a histogram's buckets have ascending `le` ending at `+Inf`,
/// cumulative counts that never fall, and a `+Inf` bucket equal to its `_count`. The text ends
/// with a newline.
public struct PrometheusText: Sendable {
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
        public init(name: String, labels: [String: String], value: Double) {
            self.name = name
            self.labels = labels
            self.value = value
        }
    }

    public struct Family: Sendable, Equatable {
        public var name: String
        public var type: String
        public var help: String?
        public var samples: [Sample]
    }

    public struct Violation: Error, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(self.line): \(self.message)" }
        public init(line: Int, message: String) {
            self.line = line
            self.message = message
        }
    }

    public private(set) var families: [String: Family] = [:]

    /// The value of the one sample called `name` with exactly these labels, or nil.
    public func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        self.samples(name).first { $0.labels == labels }?.value
    }

    /// Every sample called `name` (a histogram's `_bucket`, `_sum` and `_count` by those names).
    public func samples(_ name: String) -> [Sample] {
        self.families.values.flatMap { $0.samples.filter { $0.name == name } }
    }

    /// The sum of the samples called `name` whose labels include `matching`.
    public func sum(_ name: String, matching: [String: String] = [:]) -> Double {
        self.samples(name).filter { s in matching.allSatisfy { s.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
    }

    static let types: Set<String> = ["counter", "gauge", "histogram", "summary", "untyped"]

    public init(parsing text: String) throws {
        guard text.isEmpty || text.hasSuffix("\n") else { throw Violation(line: 0, message: "the text does not end with a newline") }
        var seenSeries = Set<String>()
        var finished = Set<String>()  // families whose samples are behind us
        var current: String?
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().enumerated() {
            let n = i + 1
            let line = String(raw)
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
                guard parts.count >= 3, parts[0] == "#", parts[1] == "HELP" || parts[1] == "TYPE" else { continue }
                let name = parts[2]
                guard Self.isMetricName(name) else { throw Violation(line: n, message: "bad metric name \(name)") }
                if finished.contains(name) || (current != nil && current != name && self.families[name] != nil) {
                    throw Violation(line: n, message: "\(parts[1]) of \(name) after its samples")
                }
                var f = self.families[name] ?? Family(name: name, type: "untyped", help: nil, samples: [])
                if parts[1] == "HELP" {
                    guard f.help == nil else { throw Violation(line: n, message: "second HELP for \(name)") }
                    f.help = parts.count > 3 ? parts[3] : ""
                } else {
                    let type = parts.count > 3 ? parts[3] : ""
                    guard Self.types.contains(type) else { throw Violation(line: n, message: "unknown TYPE \(type)") }
                    guard f.type == "untyped", f.samples.isEmpty else {
                        throw Violation(line: n, message: "TYPE of \(name) given twice or after a sample")
                    }
                    f.type = type
                }
                if let c = current, c != name { finished.insert(c) }
                current = name
                self.families[name] = f
                continue
            }
            let sample = try Self.sample(line, n)
            let family = self.family(of: sample.name)
            if let c = current, c != family {
                finished.insert(c)
            }
            if finished.contains(family) { throw Violation(line: n, message: "samples of \(family) are not together") }
            current = family
            let key = sample.name + "{" + sample.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            guard seenSeries.insert(key).inserted else { throw Violation(line: n, message: "series \(key)} appears twice") }
            var f = self.families[family] ?? Family(name: family, type: "untyped", help: nil, samples: [])
            if f.type == "counter" && !(sample.value >= 0) { throw Violation(line: n, message: "counter \(sample.name) < 0") }
            f.samples.append(sample)
            self.families[family] = f
        }
        for f in self.families.values where f.type == "histogram" { try Self.checkHistogram(f) }
    }

    /// The family a sample belongs to: a histogram's `_bucket`/`_sum`/`_count` to the histogram.
    private func family(of name: String) -> String {
        for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
            let base = String(name.dropLast(suffix.count))
            if let f = self.families[base], f.type == "histogram" || f.type == "summary" { return base }
        }
        return name
    }

    private static func checkHistogram(_ f: Family) throws {
        var series: [String: [(le: Double, count: Double)]] = [:]
        var counts: [String: Double] = [:]
        func key(_ labels: [String: String]) -> String {
            labels.filter { $0.key != "le" }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        }
        for s in f.samples {
            switch s.name {
            case f.name + "_bucket":
                guard let le = s.labels["le"], let bound = le == "+Inf" ? Double.infinity : Double(le) else {
                    throw Violation(line: 0, message: "\(f.name): a bucket without a valid le")
                }
                series[key(s.labels), default: []].append((bound, s.value))
            case f.name + "_count": counts[key(s.labels)] = s.value
            case f.name + "_sum": break
            default: throw Violation(line: 0, message: "\(f.name): sample \(s.name) in a histogram")
            }
        }
        for (k, buckets) in series {
            guard buckets.last?.le == .infinity else { throw Violation(line: 0, message: "\(f.name){\(k)}: no +Inf bucket last") }
            for (a, b) in zip(buckets, buckets.dropFirst()) {
                guard a.le < b.le else { throw Violation(line: 0, message: "\(f.name){\(k)}: le not ascending") }
                guard a.count <= b.count else { throw Violation(line: 0, message: "\(f.name){\(k)}: bucket counts fall") }
            }
            guard counts[k] == buckets.last?.count else {
                throw Violation(line: 0, message: "\(f.name){\(k)}: _count \(counts[k].map { "\($0)" } ?? "missing") ≠ +Inf bucket")
            }
        }
    }

    static func isMetricName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { c in
            ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "_" || c == ":"
        }
    }

    static func isLabelName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return s.unicodeScalars.allSatisfy { c in ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "_" }
    }

    /// One sample line: `name`, optional `{labels}`, a space, the value (and an optional timestamp).
    static func sample(_ line: String, _ n: Int) throws -> Sample {
        let chars = Array(line)
        var i = 0
        while i < chars.count, chars[i] != "{" && chars[i] != " " { i += 1 }
        let name = String(chars[0..<i])
        guard Self.isMetricName(name) else { throw Violation(line: n, message: "bad metric name \(name)") }
        var labels: [String: String] = [:]
        if i < chars.count, chars[i] == "{" {
            i += 1
            while i < chars.count, chars[i] != "}" {
                var j = i
                while j < chars.count, chars[j] != "=" { j += 1 }
                let label = String(chars[i..<j])
                guard Self.isLabelName(label), j + 1 < chars.count, chars[j + 1] == "\"" else {
                    throw Violation(line: n, message: "bad label \(label)")
                }
                j += 2
                var value = ""
                while j < chars.count, chars[j] != "\"" {
                    if chars[j] == "\\" {
                        guard j + 1 < chars.count else { throw Violation(line: n, message: "dangling escape") }
                        switch chars[j + 1] {
                        case "\\": value.append("\\")
                        case "\"": value.append("\"")
                        case "n": value.append("\n")
                        default: throw Violation(line: n, message: "bad escape \\\(chars[j + 1])")
                        }
                        j += 2
                    } else {
                        value.append(chars[j])
                        j += 1
                    }
                }
                guard j < chars.count else { throw Violation(line: n, message: "unterminated label value") }
                guard labels.updateValue(value, forKey: label) == nil else { throw Violation(line: n, message: "label \(label) twice") }
                i = j + 1
                if i < chars.count, chars[i] == "," { i += 1 }
            }
            guard i < chars.count else { throw Violation(line: n, message: "unterminated labels") }
            i += 1
        }
        guard i < chars.count, chars[i] == " " else { throw Violation(line: n, message: "no value") }
        let fields = String(chars[(i + 1)...]).split(separator: " ")
        guard (1...2).contains(fields.count) else { throw Violation(line: n, message: "bad value part") }
        let text = String(fields[0])
        let value: Double? =
            switch text {
            case "+Inf": .infinity
            case "-Inf": -.infinity
            case "NaN": .nan
            default: Double(text)
            }
        guard let value else { throw Violation(line: n, message: "bad value \(text)") }
        if fields.count == 2, Int64(fields[1]) == nil { throw Violation(line: n, message: "bad timestamp \(fields[1])") }
        return Sample(name: name, labels: labels, value: value)
    }
}
