import CampaignCore
import CampaignProtocol
import CampaignRPC
import Foundation
import Logging
import Testing

// The edges of the router: ids echoed byte for byte, nesting depth, UTF-8, and the grammar check
// that runs before any decoder (checked against Foundation's own parser).

private func makeRouter(maximumDepth: Int = 128) -> RPCRouter {
    let router = RPCRouter(maximumDepth: maximumDepth)
    router.register(Echo.self) { p, _ in Echo.Result(text: String(repeating: p.text, count: p.times ?? 1)) }
    router.register(Ping.self) { _, _ in "pong" }
    return router
}

private let context = RPCContext(connectionID: 1, peer: nil, logger: Logger(label: "test"))

private func send(_ router: RPCRouter, _ line: [UInt8]) async -> String? {
    guard let out = await router.process(line: line, context: context) else { return nil }
    return String(decoding: out, as: UTF8.self)
}

private func send(_ router: RPCRouter, _ line: String) async -> String? {
    await send(router, Array(line.utf8))
}

private func errorCode(_ text: String?) -> Int64? {
    guard let text, let v = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { return nil }
    return v["error"]?["code"]?.intValue
}

/// Ids as a client may write them, including numbers no binary type holds exactly.
private let oddIDs = [
    #""abc""#, #""""#, #""\u00e9\n\"x\/""#, #""Zoë ✓""#, "0", "-1", "1.5", "-0.25", "1.0", "-0", "1e2", "1E+2", "1E-400",
    "9007199254740993", "-9223372036854775809", "18446744073709551616", "123456789012345678901234567890",
    "3.14159265358979323846264338327950288", "1e400", "-1e400", "null",
]

@Suite("RPCRouter edges")
struct RPCRouterEdgeTests {
    @Test("an id is echoed as the very bytes it was sent as", arguments: oddIDs)
    func idEchoedByteForByte(_ id: String) async throws {
        let router = makeRouter()
        let prefix = #"{"jsonrpc":"2.0","id":"# + id + ","
        // A result, an unknown method, wrong params, an invalid request: every answer echoes it.
        let lines = [
            #"{"jsonrpc":"2.0","method":"test.ping","id":"# + id + "}",
            #"{"id":"# + id + #","jsonrpc":"2.0","method":"nope"}"#,
            #"{"jsonrpc":"2.0","method":"test.echo","params":{"text":5},"id":  "# + id + "  }",
            #"{"jsonrpc":"1.0","method":"test.ping","id":"# + id + "}",
            #"{"jsonrpc":"2.0","method":"test.ping","params":5,"id":"# + id + "}",
        ]
        for (line, code) in zip(lines, [nil, -32601, -32602, -32600, -32600] as [Int64?]) {
            let out = try #require(await send(router, line), "\(line)")
            #expect(out.hasPrefix(prefix), "\(line) → \(out)")
            if let code { #expect(out.contains(#""code":\#(code)"#), "\(out)") } else { #expect(out.hasSuffix(#","result":"pong"}"#)) }
        }
        // In a batch too.
        let batch = try #require(await send(router, "[" + lines.joined(separator: ",") + "]"))
        #expect(batch.components(separatedBy: prefix).count - 1 == lines.count, "\(batch)")
    }

    @Test("the id key may be escaped; the first of two ids counts; whitespace around it is not echoed")
    func idKeyForms() async throws {
        let router = makeRouter()
        let escaped = try #require(await send(router, #"{"jsonrpc":"2.0","method":"test.ping","\u0069d":7}"#))
        #expect(escaped.hasPrefix(#"{"jsonrpc":"2.0","id":7,"#), "\(escaped)")
        let twice = try #require(await send(router, #"{"jsonrpc":"2.0","id":1,"method":"test.ping","id":2}"#))
        #expect(twice.hasPrefix(#"{"jsonrpc":"2.0","id":1,"#), "\(twice)")
        let spaced = try #require(await send(router, "{\"jsonrpc\":\"2.0\",\"method\":\"test.ping\",\"id\" :\t 12.50 \r\n}"))
        #expect(spaced.hasPrefix(#"{"jsonrpc":"2.0","id":12.50,"#), "\(spaced)")
        // An "id" key inside params is not the request's id.
        #expect(await send(router, #"{"jsonrpc":"2.0","method":"test.echo","params":{"text":"a","id":3}}"#) == nil)
        // Nor is one in a nested object of a batch member.
        let nested = try #require(await send(router, #"[{"jsonrpc":"2.0","method":"test.echo","params":{"text":"a","id":3}},{"jsonrpc":"2.0","method":"test.ping","id":"b"}]"#))
        #expect(nested == #"[{"jsonrpc":"2.0","id":"b","result":"pong"}]"#)
    }

    @Test("a batch echoes each member's id, null for a member that is not an object, nothing for notifications")
    func batchIDs() async throws {
        let out = try #require(await send(makeRouter(), #"[{"jsonrpc":"2.0","method":"test.ping","id":1e400},5,{"jsonrpc":"2.0","method":"test.ping"},{"jsonrpc":"2.0","method":"nope","id":"x"},{"jsonrpc":"2.0","method":"test.ping","id":[1]}]"#))
        #expect(out.hasPrefix(#"[{"jsonrpc":"2.0","id":1e400,"result":"pong"},{"jsonrpc":"2.0","id":null,"error":{"#), "\(out)")
        #expect(out.contains(#"{"jsonrpc":"2.0","id":"x","error":{"#) && out.contains(#""code":-32601"#))
        #expect(out.components(separatedBy: #""id":null"#).count == 3, "\(out)")
    }

    @Test("nesting up to the limit is served; deeper is a parse error, however deep")
    func depth() async throws {
        let router = makeRouter(maximumDepth: 128)
        func request(depth: Int) -> String {
            // The request object is level 1, params level 2, then the nested arrays.
            let arrays = depth - 2
            return #"{"jsonrpc":"2.0","method":"test.echo","params":{"text":"a","x":"#
                + String(repeating: "[", count: arrays) + String(repeating: "]", count: arrays) + #"},"id":1}"#
        }
        let ok = try #require(await send(router, request(depth: 128)))
        #expect(ok.contains(#""result":{"text":"a"}"#), "\(ok)")
        let deep = try #require(await send(router, request(depth: 129)))
        #expect(errorCode(deep) == -32700 && deep.contains("deeper than 128"), "\(deep)")
        // 513 `[` and nothing else: the line Foundation's parser traps on (it crashed the process).
        for n in [129, 512, 513, 514, 100_000, 1_000_000] {
            let out = try #require(await send(router, [UInt8](repeating: UInt8(ascii: "["), count: n)))
            #expect(errorCode(out) == -32700 && out.contains(#""id":null"#), "\(n): \(out)")
        }
        let objects = try #require(await send(router, String(repeating: #"{"a":"#, count: 1_000_000)))
        #expect(errorCode(objects) == -32700)
        // A batch counts as a level.
        let batch = "[" + request(depth: 128) + "]"
        #expect(errorCode(await send(router, batch)) == -32700)
    }

    @Test("a parse error says what is wrong and where")
    func parseErrorMessages() async throws {
        let router = makeRouter()
        let cases: [(String, String)] = [
            ("{bad json", "not valid JSON (at byte 1)"),
            (#"{"a":1,}"#, "not valid JSON (at byte 7)"),  // Foundation would take this trailing comma
            ("[1,2", "not valid JSON (at byte 4)"),
            ("01", "not valid JSON (at byte 1)"),
            (#"{"a":"x"} {}"#, "not valid JSON (at byte 10)"),
        ]
        for (line, message) in cases {
            let out = try #require(await send(router, line))
            #expect(errorCode(out) == -32700 && out.contains(message) && out.contains(#""id":null"#), "\(line) → \(out)")
        }
    }

    @Test(
        "bytes that are not UTF-8 are a parse error",
        arguments: [
            [0xC3, 0x28], [0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80],
            [0xF8, 0x88, 0x80, 0x80, 0x80],
        ] as [[UInt8]])
    func invalidUTF8(_ bad: [UInt8]) async throws {
        let router = makeRouter()
        let inString = Array(#"{"jsonrpc":"2.0","method":"test.echo","params":{"text":"a"#.utf8) + bad + Array(#""},"id":1}"#.utf8)
        let out = try #require(await send(router, inString))
        #expect(errorCode(out) == -32700 && out.contains("UTF-8") && out.contains(#""id":null"#), "\(out)")
        #expect(errorCode(await send(router, bad)) == -32700)
        // Well-formed multi-byte text goes through.
        let fine = try #require(await send(router, #"{"jsonrpc":"2.0","method":"test.echo","params":{"text":"é€😀"},"id":1}"#))
        #expect(fine.contains("é€😀"))
    }

    @Test("valid JSON that Foundation cannot hold: a parse error in a batch, a params error in a request")
    func unrepresentable() async throws {
        let router = makeRouter()
        let batch = try #require(await send(router, #"[{"jsonrpc":"2.0","method":"test.echo","params":{"text":"a","n":1e400},"id":1}]"#))
        #expect(errorCode(batch) == -32700 && batch.contains("cannot be represented"), "\(batch)")
        let lone = try #require(await send(router, #"{"jsonrpc":"2.0","method":"test.echo","params":{"text":"\ud800"},"id":2}"#))
        #expect(errorCode(lone) == -32602, "\(lone)")
        // A field the method does not read is not looked at.
        let ignored = try #require(await send(router, #"{"jsonrpc":"2.0","method":"test.echo","params":{"text":"a","n":1e400},"id":3}"#))
        #expect(ignored.contains(#""result""#), "\(ignored)")
    }

    /// The scanner decides what is JSON before Foundation sees it: the two must agree. Random
    /// mutations of valid requests (seeded; the seed is in every failure message).
    @Test("the grammar check agrees with Foundation's parser on random near-JSON")
    func scannerAgreesWithFoundation() async throws {
        let seed = ProcessInfo.processInfo.environment["FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let router = makeRouter(maximumDepth: 400)
        let seeds = [
            #"{"jsonrpc":"2.0","method":"nope","params":{"a":[1,-2.5e3,true,false,null,"x\"y\\z\u00e9"],"b":{}},"id":"q"}"#,
            #"[{"jsonrpc":"2.0","method":"nope","id":0},{"jsonrpc":"2.0","method":"nope","id":-0.5E+2}]"#,
            #"  {"jsonrpc" : "2.0" , "method" : "nope" , "params" : [ ] , "id" : null }  "#,
        ]
        let alphabet = Array(#"{}[]:,"\ .-+eE0123456789truefalsnl/bu"#.utf8) + [0x09, 0x0A, 0x0D, 0x00, 0x7F, 0xC3, 0xA9]
        var checked = 0
        var trailingCommas = 0
        for _ in 0..<3000 {
            var b = Array(seeds[Int(rng.next() % UInt64(seeds.count))].utf8)
            for _ in 0..<(1 + rng.next() % 3) {
                let at = Int(rng.next() % UInt64(b.count + 1))
                switch rng.next() % 3 {
                case 0: if at < b.count { b.remove(at: at) }
                case 1: b.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                default: if at < b.count { b[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))] }
                }
            }
            // Foundation's verdict (it allows 512 levels; the mutations stay far below).
            let foundation = (try? JSONSerialization.jsonObject(with: Data(b), options: [.fragmentsAllowed])) != nil
            let out = await send(router, b)
            let parseError = errorCode(out) == -32700
            let text = String(decoding: b, as: UTF8.self)
            if foundation && parseError && Self.hasTrailingComma(b) {
                // Foundation accepts `[1,]` and `{"a":1,}`; RFC 8259 does not, and neither do we.
                #expect(out?.contains("not valid JSON") == true)
                trailingCommas += 1
                continue
            }
            #expect(foundation == !parseError, "seed \(seed): \(text.debugDescription) → \(out ?? "nothing")")
            checked += 1
        }
        #expect(checked + trailingCommas == 3000)
        #expect(checked > 2000)
    }

    /// A `,` then only whitespace before a `]` or `}` (outside strings, roughly: good enough to
    /// recognise Foundation's one leniency in mutated input).
    static func hasTrailingComma(_ b: [UInt8]) -> Bool {
        var inString = false
        var escaped = false
        var lastSignificant: UInt8 = 0
        for c in b {
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") { inString = false }
                lastSignificant = 0
                continue
            }
            if c == UInt8(ascii: "\"") { inString = true }
            if (c == UInt8(ascii: "]") || c == UInt8(ascii: "}")) && lastSignificant == UInt8(ascii: ",") { return true }
            if c != 0x20 && c != 0x09 && c != 0x0A && c != 0x0D { lastSignificant = c }
        }
        return false
    }
}

