import Foundation

/// A strict reader of the Prometheus text exposition format 0.0.4, for tests: what a scraper
/// would take, checked harder than most scrapers do.
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

#if canImport(Glibc)
import Glibc
#endif

/// A plain HTTP/1.1 exchange over loopback TCP, for tests of the metrics listener: one
/// request, `Connection: close`, the whole answer read to EOF.
public enum LoopbackHTTP {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// A TCP port on 127.0.0.1 that was free a moment ago (bound, read, closed).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        guard bound == 0 else { throw Failure(description: "bind: errno \(errno)") }
        let named = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        guard named == 0 else { throw Failure(description: "getsockname: errno \(errno)") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    /// Sends `method path` to 127.0.0.1:`port` and reads the answer (blocking: call it off the
    /// cooperative pool's hot path, as tests do).
    public static func request(_ method: String = "GET", port: Int, path: String) throws -> Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "connect to port \(port): errno \(errno)") }
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { throw Failure(description: "write: errno \(errno)") }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 { throw Failure(description: "read: errno \(errno)") }
            if n == 0 { break }
            data += buffer[0..<n]
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw Failure(description: "no end of headers in \(text.prefix(200))") }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw Failure(description: "bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(status: status, headers: headers, body: String(text[split.upperBound...]))
    }
}

extension PrometheusText {
    /// The reference reader: python's prometheus_client (Debian's python3-prometheus-client,
    /// which `scripts/test` installs), run on `text`. Its samples, in its order; an error when it
    /// refuses the text or is missing.
    public static func referenceSamples(_ text: String) throws -> [Sample] {
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            out = []
            for f in text_string_to_metric_families(sys.stdin.read()):
                for s in f.samples:
                    out.append([s.name, s.labels, repr(float(s.value))])
            print(json.dumps(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script]
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Written from another thread: a large text would fill the pipe before python reads it all.
        let writer = Thread { input.fileHandleForWriting.write(Data(text.utf8)); try? input.fileHandleForWriting.close() }
        writer.start()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        let err = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Violation(line: 0, message: "prometheus_client refused the text: \(String(decoding: err, as: UTF8.self))")
        }
        guard let rows = try JSONSerialization.jsonObject(with: out) as? [[Any]] else {
            throw Violation(line: 0, message: "unreadable output of the reference parser")
        }
        return try rows.map { row in
            guard row.count == 3, let name = row[0] as? String, let labels = row[1] as? [String: String],
                let value = row[2] as? String
            else { throw Violation(line: 0, message: "unreadable sample \(row)") }
            let v: Double? =
                switch value {
                case "inf": .infinity
                case "-inf": -.infinity
                case "nan": .nan
                default: Double(value)
                }
            return Sample(name: name, labels: labels, value: try v ?? { throw Violation(line: 0, message: "value \(value)") }())
        }
    }

    /// Every sample read, in a stable order (for comparing with ``referenceSamples(_:)``).
    public var allSamples: [Sample] {
        self.families.values.flatMap(\.samples).sorted { a, b in
            (a.name, a.labels.sorted { $0.key < $1.key }.description) < (b.name, b.labels.sorted { $0.key < $1.key }.description)
        }
    }
}
