/// JSON text ↔ `JSONValue` without Codable, for the values that cross the database and the
/// size checks on every report (issue 11's profile: `JSONDecoder`/`JSONEncoder` round trips of
/// tiny `result`/`detail` objects were ~8 % of the coordinator's CPU in a drain). Pure.
///
/// The writer emits compact JSON (no spaces; `"`, `\` and control characters escaped, the rest
/// of UTF-8 as is). The parser accepts exactly RFC 8259 JSON (one value, optional whitespace
/// around it); numbers without fraction or exponent that fit an `Int64` become `.int`, all
/// others `.double`.
extension JSONValue {
    /// Compact JSON text of this value.
    public var jsonText: String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        Self.write(self, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes of `jsonText`, without building it as a String.
    public var jsonByteCount: Int {
        var out: [UInt8] = []
        Self.write(self, into: &out)
        return out.count
    }

    static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d):
            // Swift's shortest round-trip form ("2.0", "1e-05") is valid JSON. Only finite doubles
            // come from JSON text; a non-finite one (built in code) is written as null.
            out.append(contentsOf: (d.isFinite ? "\(d)" : "null").utf8)
        case .string(let s): writeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(v, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            var first = true
            for (k, v) in o {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                write(v, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    public static func writeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)],
                    hex[Int(b & 0xF)],
                ])
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Why a text is not one JSON value.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var offset: Int
        public var reason: String
        public var description: String { "invalid JSON at byte \(self.offset): \(self.reason)" }
    }

    /// Parses one JSON value (RFC 8259), with whitespace around it allowed and nothing else.
    /// Nesting deeper than `maximumDepth` is refused.
    public init(jsonText text: String, maximumDepth: Int = 512) throws {
        var copy = text
        self = try copy.withUTF8 { try Self.parse($0, maximumDepth: maximumDepth) }
    }

    /// The same, from the bytes of a line as they came (no String made of the whole text first).
    public init(jsonUTF8 bytes: some Collection<UInt8>, maximumDepth: Int = 512) throws {
        if let v = try bytes.withContiguousStorageIfAvailable({ try Self.parse($0, maximumDepth: maximumDepth) }) {
            self = v
        } else {
            self = try Array(bytes).withUnsafeBufferPointer { try Self.parse($0, maximumDepth: maximumDepth) }
        }
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int) throws -> JSONValue {
        var p = JSONTextParser(bytes: bytes, maximumDepth: maximumDepth)
        p.skipWhitespace()
        let v = try p.value(depth: 0)
        p.skipWhitespace()
        guard p.i == bytes.count else { throw p.error("text after the value") }
        return v
    }
}

private struct JSONTextParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let maximumDepth: Int
    var i = 0

    init(bytes: UnsafeBufferPointer<UInt8>, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    func error(_ reason: String) -> JSONValue.ParseError { JSONValue.ParseError(offset: self.i, reason: reason) }

    mutating func skipWhitespace() {
        while self.i < self.bytes.count {
            switch self.bytes[self.i] {
            case 0x20, 0x09, 0x0A, 0x0D: self.i += 1
            default: return
            }
        }
    }

    mutating func literal(_ word: StaticString, _ value: JSONValue) throws -> JSONValue {
        let n = word.utf8CodeUnitCount
        guard self.i + n <= self.bytes.count else { throw self.error("unexpected end") }
        for k in 0..<n where self.bytes[self.i + k] != word.utf8Start[k] { throw self.error("unexpected character") }
        self.i += n
        return value
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard self.i < self.bytes.count else { throw self.error("unexpected end") }
        switch self.bytes[self.i] {
        case UInt8(ascii: "{"):
            guard depth < self.maximumDepth else { throw self.error("nested too deeply") }
            self.i += 1
            var o: [String: JSONValue] = [:]
            o.reserveCapacity(8)
            self.skipWhitespace()
            if self.i < self.bytes.count, self.bytes[self.i] == UInt8(ascii: "}") {
                self.i += 1
                return .object(o)
            }
            while true {
                self.skipWhitespace()
                guard self.i < self.bytes.count, self.bytes[self.i] == UInt8(ascii: "\"") else {
                    throw self.error("expected a string key")
                }
                let key = try self.string()
                self.skipWhitespace()
                guard self.i < self.bytes.count, self.bytes[self.i] == UInt8(ascii: ":") else { throw self.error("expected ':'") }
                self.i += 1
                self.skipWhitespace()
                o[key] = try self.value(depth: depth + 1)
                self.skipWhitespace()
                guard self.i < self.bytes.count else { throw self.error("unexpected end") }
                if self.bytes[self.i] == UInt8(ascii: ",") {
                    self.i += 1
                    continue
                }
                guard self.bytes[self.i] == UInt8(ascii: "}") else { throw self.error("expected ',' or '}'") }
                self.i += 1
                return .object(o)
            }
        case UInt8(ascii: "["):
            guard depth < self.maximumDepth else { throw self.error("nested too deeply") }
            self.i += 1
            var a: [JSONValue] = []
            self.skipWhitespace()
            if self.i < self.bytes.count, self.bytes[self.i] == UInt8(ascii: "]") {
                self.i += 1
                return .array(a)
            }
            while true {
                self.skipWhitespace()
                a.append(try self.value(depth: depth + 1))
                self.skipWhitespace()
                guard self.i < self.bytes.count else { throw self.error("unexpected end") }
                if self.bytes[self.i] == UInt8(ascii: ",") {
                    self.i += 1
                    continue
                }
                guard self.bytes[self.i] == UInt8(ascii: "]") else { throw self.error("expected ',' or ']'") }
                self.i += 1
                return .array(a)
            }
        case UInt8(ascii: "\""): return .string(try self.string())
        case UInt8(ascii: "t"): return try self.literal("true", .bool(true))
        case UInt8(ascii: "f"): return try self.literal("false", .bool(false))
        case UInt8(ascii: "n"): return try self.literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try self.number()
        default: throw self.error("unexpected character")
        }
    }

    mutating func number() throws -> JSONValue {
        let start = self.i
        func digits(_ p: inout JSONTextParser) -> Int {
            let s = p.i
            while p.i < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.i]) { p.i += 1 }
            return p.i - s
        }
        if self.bytes[self.i] == UInt8(ascii: "-") { self.i += 1 }
        let intStart = self.i
        let n = digits(&self)
        guard n > 0 else { throw self.error("expected a digit") }
        if n > 1, self.bytes[intStart] == UInt8(ascii: "0") { throw self.error("leading zero") }
        var integral = true
        if self.i < self.bytes.count, self.bytes[self.i] == UInt8(ascii: ".") {
            integral = false
            self.i += 1
            guard digits(&self) > 0 else { throw self.error("expected a digit after '.'") }
        }
        if self.i < self.bytes.count, self.bytes[self.i] == UInt8(ascii: "e") || self.bytes[self.i] == UInt8(ascii: "E") {
            integral = false
            self.i += 1
            if self.i < self.bytes.count, self.bytes[self.i] == UInt8(ascii: "+") || self.bytes[self.i] == UInt8(ascii: "-") {
                self.i += 1
            }
            guard digits(&self) > 0 else { throw self.error("expected a digit in the exponent") }
        }
        // Up to 18 digits always fit an Int64: no text to make for the ids and counts of the hot path.
        if integral, n <= 18 {
            var v: Int64 = 0
            for k in intStart..<(intStart + n) { v = v &* 10 &+ Int64(self.bytes[k] &- UInt8(ascii: "0")) }
            return .int(self.bytes[start] == UInt8(ascii: "-") ? -v : v)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.i]), as: UTF8.self)
        if integral, let v = Int64(text) { return .int(v) }
        guard let d = Double(text), d.isFinite else { throw JSONValue.ParseError(offset: start, reason: "number out of range") }
        return .double(d)
    }

    mutating func hex4() throws -> UInt32 {
        guard self.i + 4 <= self.bytes.count else { throw self.error("unexpected end in \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = self.bytes[self.i]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw self.error("bad \\u escape")
            }
            v = v << 4 | UInt32(d)
            self.i += 1
        }
        return v
    }

    /// A string, the opening quote at `i`. Raw bytes must be valid UTF-8 without control characters.
    mutating func string() throws -> String {
        self.i += 1
        // Most strings hold no escape: validate the bytes in place, without a copy.
        // ASCII (nearly every key and value here) needs no validation beyond the byte range, and
        // `String(decoding:)` makes it without `String(validating:)`'s generic detour (≈ 4 % of a
        // busy agent's samples went to its metadata lookups).
        var k = self.i
        var ascii = true
        while k < self.bytes.count {
            let b = self.bytes[k]
            if b == UInt8(ascii: "\"") {
                let raw = UnsafeBufferPointer(rebasing: self.bytes[self.i..<k])
                if ascii {
                    self.i = k + 1
                    return String(decoding: raw, as: UTF8.self)
                }
                if let s = String(validating: raw, as: UTF8.self) {
                    self.i = k + 1
                    return s
                }
                break
            }
            if b == UInt8(ascii: "\\") || b < 0x20 { break }
            ascii = ascii && b < 0x80
            k += 1
        }
        var out: [UInt8] = []
        var runStart = self.i
        while true {
            guard self.i < self.bytes.count else { throw self.error("unterminated string") }
            let b = self.bytes[self.i]
            if b == UInt8(ascii: "\"") {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: self.bytes[runStart..<self.i]))
                self.i += 1
                break
            }
            if b < 0x20 { throw self.error("control character in a string") }
            if b != UInt8(ascii: "\\") {
                self.i += 1
                continue
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: self.bytes[runStart..<self.i]))
            self.i += 1
            guard self.i < self.bytes.count else { throw self.error("unterminated escape") }
            let e = self.bytes[self.i]
            self.i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try self.hex4()
                if (0xD800..<0xDC00).contains(scalar) {
                    guard self.i + 2 <= self.bytes.count, self.bytes[self.i] == UInt8(ascii: "\\"),
                        self.bytes[self.i + 1] == UInt8(ascii: "u")
                    else { throw self.error("lone high surrogate") }
                    self.i += 2
                    let low = try self.hex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw self.error("bad low surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw self.error("lone low surrogate")
                }
                out.append(contentsOf: String(Unicode.Scalar(scalar)!).utf8)
            default: throw self.error("bad escape")
            }
            runStart = self.i
        }
        // Raw bytes that are not UTF-8 are refused rather than repaired.
        guard let s = String(validating: out, as: UTF8.self) else { throw self.error("invalid UTF-8 in a string") }
        return s
    }
}
