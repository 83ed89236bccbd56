import CampaignProtocol
import CampaignRPC
import Foundation
import Logging
import Testing

// Small methods of our own, so the router is tested apart from the coordinator's handlers.

enum Echo: RPCMethod {
    static let name = "test.echo"
    struct Params: Codable, Sendable, Equatable {
        var text: String
        var times: Int?
    }
    struct Result: Codable, Sendable, Equatable {
        var text: String
    }
}

enum Add: RPCMethod {
    static let name = "test.add"
    struct Params: Codable, Sendable, Equatable {
        var a: Int
        var b: Int
    }
    typealias Result = Int
}

enum Ping: RPCMethod {
    static let name = "test.ping"
    typealias Params = NoParams
    typealias Result = String
}

enum Fails: RPCMethod {
    static let name = "test.fails"
    struct Params: Codable, Sendable {
        var kind: String
    }
    typealias Result = String
}

struct SecretError: Error, CustomStringConvertible {
    var description: String { "password=hunter2 at /etc/secret" }
}

/// Counts handler calls, to see that notifications run too.
final class Calls: Sendable {
    private let count = LockedCount()
    func hit() { self.count.add() }
    var value: Int { self.count.value }
}

final class LockedCount: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { self.lock.withLock { self.n += 1 } }
    var value: Int { self.lock.withLock { self.n } }
}

private func makeRouter(maximumBatchSize: Int = 1000, calls: Calls = Calls()) -> RPCRouter {
    let router = RPCRouter(maximumBatchSize: maximumBatchSize)
    router.register(Echo.self) { p, _ in
        calls.hit()
        return Echo.Result(text: String(repeating: p.text, count: p.times ?? 1))
    }
    router.register(Add.self) { p, _ in
        calls.hit()
        return p.a + p.b
    }
    router.register(Ping.self) { _, _ in
        calls.hit()
        return "pong"
    }
    router.register(Fails.self) { p, _ in
        calls.hit()
        switch p.kind {
        case "rpc": throw RPCError(.notFound, "no such job", details: ["jobId": 7])
        case "retryable": throw RPCError(.databaseUnavailable, "database unavailable")
        default: throw SecretError()
        }
    }
    return router
}

private let context = RPCContext(connectionID: 1, peer: nil, logger: Logger(label: "test"))

/// Sends one line; returns the raw response text (nil when the router sends nothing).
private func send(_ router: RPCRouter, _ line: String) async -> String? {
    guard let out = await router.process(line: Array(line.utf8), context: context) else { return nil }
    return String(decoding: out, as: UTF8.self)
}

/// Sends one line and parses the response.
private func call(_ router: RPCRouter, _ line: String) async throws -> JSONValue? {
    guard let text = await send(router, line) else { return nil }
    #expect(!text.contains("\n"), "a response is one line")
    return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
}

/// Checks that `response` is a JSON-RPC 2.0 error with `code` and id `id`; returns its message.
@discardableResult
private func expectError(
    _ response: JSONValue?, code: Int, id: JSONValue, sourceLocation: SourceLocation = #_sourceLocation
) -> String {
    #expect(response?["jsonrpc"] == "2.0", sourceLocation: sourceLocation)
    #expect(response?["id"] == id, "id", sourceLocation: sourceLocation)
    #expect(response?["result"] == nil, sourceLocation: sourceLocation)
    #expect(response?["error"]?["code"] == .int(Int64(code)), "\(String(describing: response))", sourceLocation: sourceLocation)
    let message = response?["error"]?["message"]?.stringValue
    #expect(message != nil, "error.message is a string", sourceLocation: sourceLocation)
    return message ?? ""
}

@Suite("RPCRouter: JSON-RPC 2.0")
struct RPCRouterTests {
    @Test func success() async throws {
        let r = try await call(makeRouter(), #"{"jsonrpc":"2.0","method":"test.echo","params":{"text":"ab","times":2},"id":1}"#)
        #expect(r == ["jsonrpc": "2.0", "id": 1, "result": ["text": "abab"]])
    }

    @Test(
        "ids are echoed exactly: string, big integer, null",
        arguments: [#""abc""#, "9007199254740993", "null", "-1", #""""#, "0"])
    func idsEchoed(_ id: String) async throws {
        let router = makeRouter()
        let ok = try #require(await send(router, #"{"jsonrpc":"2.0","method":"test.add","params":{"a":1,"b":2},"id":"# + id + "}"))
        #expect(ok.contains(#""id":"# + id), "\(ok)")
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(ok.utf8))["result"] == 3)
        // Errors echo the id too.
        let err = try #require(await send(router, #"{"jsonrpc":"2.0","method":"nope","id":"# + id + "}"))
        #expect(err.contains(#""id":"# + id), "\(err)")
    }

    @Test("positional-free methods accept {}, [] and absent params")
    func noParams() async throws {
        let router = makeRouter()
        for params in [#","params":{}"#, #","params":[]"#, ""] {
            let r = try await call(router, #"{"jsonrpc":"2.0","method":"test.ping","id":5"# + params + "}")
            #expect(r?["result"] == "pong", "params\(params)")
        }
    }

    @Test("invalid JSON is a parse error with id null")
    func parseError() async throws {
        for line in [#"{"jsonrpc":"2.0","method":"test.ping","id":1"#, "", "nonsense", #"{"a":}"#, "\u{FF}\u{FE}"] {
            expectError(try await call(makeRouter(), line), code: -32700, id: .null)
        }
    }

    @Test(
        "invalid requests answer −32600",
        arguments: [
            ("1", JSONValue.null),  // not an object
            (#""text""#, .null),
            ("null", .null),
            (#"{"method":"test.ping","id":1}"#, .int(1)),  // no jsonrpc
            (#"{"jsonrpc":"1.0","method":"test.ping","id":1}"#, .int(1)),
            (#"{"jsonrpc":2.0,"method":"test.ping","id":"x"}"#, .string("x")),
            (#"{"jsonrpc":"2.0","id":2}"#, .int(2)),  // no method
            (#"{"jsonrpc":"2.0","method":42,"id":2}"#, .int(2)),
            (#"{"jsonrpc":"2.0","method":"test.ping","id":{"a":1}}"#, .null),  // object id
            (#"{"jsonrpc":"2.0","method":"test.ping","id":[1]}"#, .null),  // array id
            (#"{"jsonrpc":"2.0","method":"test.ping","id":true}"#, .null),  // boolean id
            (#"{"jsonrpc":"2.0","method":"test.ping","params":"x","id":3}"#, .int(3)),  // string params
            (#"{"jsonrpc":"2.0","method":"test.ping","params":7,"id":3}"#, .int(3)),
            (#"{"jsonrpc":"2.0","method":"test.ping","params":null,"id":3}"#, .int(3)),
        ])
    func invalidRequest(_ line: String, _ id: JSONValue) async throws {
        expectError(try await call(makeRouter(), line), code: -32600, id: id)
    }

    @Test("an unknown method answers −32601 with the id")
    func methodNotFound() async throws {
        let r = try await call(makeRouter(), #"{"jsonrpc":"2.0","method":"jobs.nothing","id":"q"}"#)
        let message = expectError(r, code: -32601, id: "q")
        #expect(message.contains("jobs.nothing"))
    }

    @Test(
        "wrong params answer −32602 with a message naming the field",
        arguments: [
            (#"{"a":"1","b":2}"#, "a" as String?),  // wrong type
            (#"{"a":1}"#, "b"),  // missing
            (#"{"a":1,"b":null}"#, "b"),  // null
            // Not an integer. Foundation's JSONDecoder reports this as `dataCorrupted` with an empty
            // path and "The given data was not valid JSON.", so the message cannot name the field.
            (#"{"a":1.5,"b":2}"#, nil),
            ("[1,2]", "params"),  // positional
        ])
    func invalidParams(_ params: String, _ field: String?) async throws {
        let r = try await call(makeRouter(), #"{"jsonrpc":"2.0","method":"test.add","params":"# + params + #","id":9}"#)
        let message = expectError(r, code: -32602, id: 9)
        #expect(message.contains("test.add"), "\(message)")
        if let field { #expect(message.contains(": \(field):"), "\(message)") }
        #expect(r?["error"]?["data"]?["code"] == "INVALID_PARAMS")
    }

    @Test("the handler's RPCError is the answer, data included")
    func handlerRPCError() async throws {
        let router = makeRouter()
        let r = try await call(router, #"{"jsonrpc":"2.0","method":"test.fails","params":{"kind":"rpc"},"id":4}"#)
        #expect(expectError(r, code: 1002, id: 4) == "no such job")
        #expect(r?["error"]?["data"] == ["code": "NOT_FOUND", "retryable": false, "jobId": 7])
        let d = try await call(router, #"{"jsonrpc":"2.0","method":"test.fails","params":{"kind":"retryable"},"id":5}"#)
        expectError(d, code: 1005, id: 5)
        #expect(d?["error"]?["data"]?["retryable"] == true)
    }

    @Test("any other error is −32603 \"internal error\" without details")
    func handlerOtherError() async throws {
        let text = try #require(await send(makeRouter(), #"{"jsonrpc":"2.0","method":"test.fails","params":{"kind":"x"},"id":6}"#))
        #expect(!text.contains("hunter2") && !text.contains("secret") && !text.contains("SecretError"))
        let r = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        #expect(expectError(r, code: -32603, id: 6) == "internal error")
    }

    @Test("notifications are run and never answered, even when they fail")
    func notifications() async throws {
        let calls = Calls()
        let router = makeRouter(calls: calls)
        #expect(await send(router, #"{"jsonrpc":"2.0","method":"test.ping"}"#) == nil)
        #expect(await send(router, #"{"jsonrpc":"2.0","method":"test.echo","params":{"text":"x"}}"#) == nil)
        #expect(await send(router, #"{"jsonrpc":"2.0","method":"test.fails","params":{"kind":"rpc"}}"#) == nil)
        #expect(await send(router, #"{"jsonrpc":"2.0","method":"test.fails","params":{"kind":"x"}}"#) == nil)
        #expect(await send(router, #"{"jsonrpc":"2.0","method":"test.add","params":{"a":"bad"}}"#) == nil)
        #expect(await send(router, #"{"jsonrpc":"2.0","method":"no.such.method"}"#) == nil)
        #expect(calls.value == 4)
    }

    @Test("a batch answers its requests, in an array, and not its notifications")
    func mixedBatch() async throws {
        let calls = Calls()
        let line = """
            [{"jsonrpc":"2.0","method":"test.add","params":{"a":1,"b":2},"id":"1"},\
            {"jsonrpc":"2.0","method":"test.ping"},\
            {"jsonrpc":"2.0","method":"test.echo","params":{"text":"x"},"id":9007199254740993},\
            {"foo":"boo"},\
            {"jsonrpc":"2.0","method":"nope","id":"5"},\
            1,\
            {"jsonrpc":"2.0","method":"test.ping","id":null}]
            """
        let text = try #require(await send(makeRouter(calls: calls), line))
        #expect(text.contains(#""id":9007199254740993"#))
        guard case .array(let items) = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
            Issue.record("a batch answer is an array: \(text)")
            return
        }
        #expect(calls.value == 4)
        // Match by id: order is not guaranteed by the specification.
        func find(_ id: JSONValue, _ member: String) -> [JSONValue] { items.filter { $0["id"] == id && $0[member] != nil } }
        #expect(items.count == 6)
        #expect(find("1", "result").first?["result"] == 3)
        #expect(find(.int(9_007_199_254_740_993), "result").first?["result"] == ["text": "x"])
        #expect(find("5", "error").first?["error"]?["code"] == -32601)
        #expect(find(.null, "result").first?["result"] == "pong")
        #expect(find(.null, "error").map { $0["error"]?["code"] } == [-32600, -32600])
    }

    @Test("a batch of notifications only is not answered at all")
    func notificationBatch() async {
        let calls = Calls()
        let line = #"[{"jsonrpc":"2.0","method":"test.ping"},{"jsonrpc":"2.0","method":"test.echo","params":{"text":"a"}}]"#
        #expect(await send(makeRouter(calls: calls), line) == nil)
        #expect(calls.value == 2)
    }

    @Test("an empty batch is a single invalid-request error, not an array")
    func emptyBatch() async throws {
        let r = try await call(makeRouter(), "[]")
        expectError(r, code: -32600, id: .null)
    }

    @Test("a batch of invalid items answers one error per item")
    func invalidItemsBatch() async throws {
        let r = try await call(makeRouter(), "[1,2,3]")
        guard case .array(let items)? = r else {
            Issue.record("expected an array, got \(String(describing: r))")
            return
        }
        #expect(items.count == 3)
        for item in items { expectError(item, code: -32600, id: .null) }
    }

    @Test("a batch over maximumBatchSize is refused as a whole, without running anything")
    func batchTooLarge() async throws {
        let calls = Calls()
        let router = makeRouter(maximumBatchSize: 3, calls: calls)
        let item = #"{"jsonrpc":"2.0","method":"test.ping","id":1}"#
        let atLimit = try await call(router, "[" + Array(repeating: item, count: 3).joined(separator: ",") + "]")
        guard case .array(let ok)? = atLimit else {
            Issue.record("a batch at the limit is served: \(String(describing: atLimit))")
            return
        }
        #expect(ok.count == 3)
        #expect(calls.value == 3)
        let over = try await call(router, "[" + Array(repeating: item, count: 4).joined(separator: ",") + "]")
        let message = expectError(over, code: RPCErrorCode.limitExceeded.number, id: .null)
        #expect(message.contains("3"))
        #expect(over?["error"]?["data"]?["code"] == "LIMIT_EXCEEDED")
        #expect(calls.value == 3)
    }

    @Test("the registered methods are listed")
    func methods() {
        #expect(makeRouter().methods == ["test.add", "test.echo", "test.fails", "test.ping"])
    }

    @Test("refuse answers with the request's id when it can be read, and never answers a notification")
    func refuse() throws {
        let router = makeRouter()
        let error = RPCError(.limitExceeded, "too many calls in flight")
        let out = String(decoding: try #require(router.refuse(line: Array(#"{"jsonrpc":"2.0","method":"x","id":"r1"}"#.utf8), error: error)), as: UTF8.self)
        #expect(out.contains(#""id":"r1""#) && out.contains("1008"))
        let garbled = String(decoding: try #require(router.refuse(line: Array("{{".utf8), error: error)), as: UTF8.self)
        #expect(garbled.contains(#""id":null"#))
        #expect(router.refuse(line: Array(#"{"jsonrpc":"2.0","method":"x"}"#.utf8), error: error) == nil)
        #expect(router.refuse(line: Array(#"[{"jsonrpc":"2.0","method":"x"},{"jsonrpc":"2.0","method":"y"}]"#.utf8), error: error) == nil)
        let batch = String(decoding: try #require(router.refuse(line: Array(#"[{"jsonrpc":"2.0","method":"x"},{"jsonrpc":"2.0","method":"y","id":2}]"#.utf8), error: error)), as: UTF8.self)
        #expect(batch.contains(#""id":null"#))
        // Deep nesting is refused without a decoder ever seeing it.
        let deep = String(decoding: try #require(router.refuse(line: Array(repeating: UInt8(ascii: "["), count: 513), error: error)), as: UTF8.self)
        #expect(deep.contains(#""id":null"#))
    }
}
