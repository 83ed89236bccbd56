import CampaignCore
import CampaignProtocol
import Foundation
import Testing

/// The Codable-free JSON text of `JSONValue` (database columns, size checks) against
/// Foundation's encoder and decoder.
@Suite("JSONValue text: writer and parser")
struct JSONValueTextTests {
    /// Numbers compare by value: Foundation's decoding may give `.int(2)` for `2.0`.
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): return Double(x) == y
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { same(v, $0) } ?? false }
        default: return a == b
        }
    }

    static let alphabet: [String] = [
        "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1}", "\u{1f}", "\u{7f}", "é", "☎", "😀",
        "\u{2028}", "{", "]", ",", ":",
    ]

    static func randomString(_ rng: inout SplitMix64) -> String {
        (0..<Int(rng.next() % 8)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }.joined()
    }

    static func randomValue(_ rng: inout SplitMix64, depth: Int) -> JSONValue {
        switch rng.next() % (depth > 3 ? 6 : 8) {
        case 0: return .null
        case 1: return .bool(rng.next() % 2 == 0)
        case 2: return .int(Int64(bitPattern: rng.next()) >> Int64(rng.next() % 64))
        case 3:
            let d = Double(Int64(bitPattern: rng.next()) >> 20) / Double(1 << (rng.next() % 40))
            return .double(d == d.rounded() ? d + 0.5 : d)
        case 4, 5: return .string(randomString(&rng))
        case 6: return .array((0..<Int(rng.next() % 5)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            var o: [String: JSONValue] = [:]
            for _ in 0..<Int(rng.next() % 5) { o[randomString(&rng)] = randomValue(&rng, depth: depth + 1) }
            return .object(o)
        }
    }

    @Test("random values: ours → Foundation, Foundation → ours, ours → ours")
    func roundTrips() throws {
        var rng = SplitMix64(seed: 0x15_0A_7E)
        for n in 0..<1500 {
            let v = Self.randomValue(&rng, depth: 0)
            let text = v.jsonText
            #expect(text.utf8.count == v.jsonByteCount)
            // Foundation reads our text as the same value.
            let theirs = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            #expect(Self.same(theirs, v), "case \(n): \(text)")
            // We read Foundation's text (escaped slashes, its number forms) as the same value.
            let foundationText = String(decoding: try JSONEncoder().encode(v), as: UTF8.self)
            #expect(Self.same(try JSONValue(jsonText: foundationText), v), "case \(n): \(foundationText)")
            // Our own round trip is exact, number kinds included.
            #expect(try JSONValue(jsonText: text) == v, "case \(n): \(text)")
        }
    }

    @Test("PostgreSQL's jsonb text forms and escapes parse", arguments: [
        (#"{"a": 1, "b": [true, false, null], "c": {"d": "e"}}"#, JSONValue.object(["a": 1, "b": [true, false, nil], "c": ["d": "e"]])),
        (#" [ ] "#, .array([])),
        (#"{}"#, .object([:])),
        (#""\u00e9\ud83d\ude00\/\b\f\n\r\t\"\\""#, .string("é😀/\u{8}\u{c}\n\r\t\"\\")),
        (#"-0"#, .int(0)),
        (#"1.5e3"#, .double(1500)),
        (#"-2.25E-2"#, .double(-0.0225)),
        (#"9223372036854775807"#, .int(Int64.max)),
        (#"9223372036854775808"#, .double(9_223_372_036_854_775_808)),
        (#"-9223372036854775808"#, .int(Int64.min)),
        (#"999999999999999999"#, .int(999_999_999_999_999_999)),
        (#"-999999999999999999"#, .int(-999_999_999_999_999_999)),
        (#"[0, -7, 42]"#, .array([.int(0), .int(-7), .int(42)])),
        (#"-12.5"#, .double(-12.5)),
        ("\"caf\u{e9}\"", .string("caf\u{e9}")),
        ("{\"k\u{e9}\": \"a\\\"\u{e9}\"}", .object(["k\u{e9}": .string("a\"\u{e9}")])),
        ("\"\u{7f}\u{2028}\"", .string("\u{7f}\u{2028}")),
    ])
    func parses(_ text: String, _ expected: JSONValue) throws {
        #expect(try JSONValue(jsonText: text) == expected)
    }

    @Test("what is not one JSON value is refused, as Foundation refuses it", arguments: [
        "", " ", "tru", "nul", "True", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "[1 2]", "1 2", "01", "-", "1.", ".5",
        "1e", "+1", "\"abc", "\"a\u{1}b\"", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\u12\"", "-01", "--1", "-a", "[", "{",
        "]", "NaN", "Infinity", "1e999", "[1]x", "'a'",
    ])
    func refuses(_ text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(jsonText: text) }
        // Foundation is laxer in a few places (trailing commas; 1e999 as infinity): RFC 8259 is the rule here.
        let foundationLax: Set<String> = ["[1,]", "{\"a\":1,}", "1e999"]
        if !foundationLax.contains(text) {
            #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) == nil,
                    "Foundation accepts \(text)")
        }
    }

    @Test("nesting is bounded")
    func depth() throws {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(jsonText: deep) }
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try JSONValue(jsonText: ok, maximumDepth: 100) != .null)
    }

    @Test("the writer escapes what JSON requires and nothing else")
    func writerEscapes() {
        #expect(JSONValue.string("a\"b\\c\n\u{1}é/").jsonText == #""a\"b\\c\n\u0001é/""#)
        #expect(JSONValue.object(["k": [1, .double(2.5), nil, true]]).jsonText == #"{"k":[1,2.5,null,true]}"#)
        #expect(JSONValue.double(.infinity).jsonText == "null")
    }

    @Test("raw bytes that are not UTF-8 are refused in keys and values, with or without escapes", arguments: [
        [0x22, 0xC3, 0x28, 0x22], [0x22, 0xFF, 0x22], [0x22, 0x61, 0xE2, 0x82, 0x22], [0x22, 0xC3, 0x5C, 0x6E, 0x22],
        [0x7B, 0x22, 0xC0, 0xAF, 0x22, 0x3A, 0x31, 0x7D], [0x22, 0xED, 0xA0, 0x80, 0x22],
    ] as [[UInt8]])
    func refusesInvalidUTF8(_ bytes: [UInt8]) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(jsonUTF8: bytes) }
    }

    @Test("valid multi-byte UTF-8 is read as is, with or without escapes")
    func readsUTF8() throws {
        #expect(try JSONValue(jsonUTF8: [0x22, 0xC3, 0xA9, 0x22]) == .string("\u{e9}"))
        #expect(try JSONValue(jsonUTF8: [0x22, 0xC3, 0xA9, 0x5C, 0x6E, 0xF0, 0x9F, 0x98, 0x80, 0x22]) == .string("\u{e9}\n\u{1F600}"))
    }
}
