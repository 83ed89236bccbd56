import CampaignProtocol
import Foundation

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
