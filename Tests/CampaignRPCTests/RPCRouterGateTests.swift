import CampaignProtocol
import CampaignRPC
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

// The router's two checks before a handler: the gate (once, for every method) and the params'
// own `validate()`.

fileprivate enum Bounded: RPCMethod {
    static let name = "test.bounded"
    static let requiredRole = AccessRole.agent
    struct Params: Codable, Sendable, ValidatedParams {
        var n: Int
        func validate() throws {
            guard (1...10).contains(self.n) else { throw RPCError(.validationFailed, "n must be 1…10") }
        }
    }
    typealias Result = Int
}

fileprivate enum Open: RPCMethod {
    static let name = "test.open"
    static let requiredRole = AccessRole.reader
    struct Params: Codable, Sendable {
        var n: Int
    }
    typealias Result = Int
}

/// Admits a connection whose id is at least the method's role's rank (1 reader, 2 agent, 3 admin),
/// and records what it was asked.
fileprivate final class RankGate: RPCGate {
    let asked = NIOLockedValueBox<[String]>([])
    func admit<M: RPCMethod>(_ method: M.Type, _ context: RPCContext) throws {
        self.asked.withLockedValue { $0.append(M.name) }
        let rank = AccessRole.allCases.firstIndex(of: M.requiredRole)! + 1
        guard context.connectionID >= UInt64(rank) else { throw RPCError(.forbidden, "\(M.name) needs \(M.requiredRole)") }
    }
}

@Suite("RPC router: gate and validation")
struct RPCRouterGateTests {
    fileprivate let gate = RankGate()
    let handled = NIOLockedValueBox(0)

    func router() -> RPCRouter {
        let router = RPCRouter(gate: self.gate)
        let handled = self.handled
        router.register(Bounded.self) { p, _ in
            handled.withLockedValue { $0 += 1 }
            return p.n * 2
        }
        router.register(Open.self) { p, _ in
            handled.withLockedValue { $0 += 1 }
            return p.n
        }
        return router
    }

    func answer(_ router: RPCRouter, _ line: String, connection: UInt64) async throws -> JSONValue {
        let ctx = RPCContext(connectionID: connection, peer: nil, logger: Logger(label: "test"))
        let out = try #require(await router.process(line: Array(line.utf8), context: ctx))
        return try JSONDecoder().decode(JSONValue.self, from: Data(out))
    }

    @Test func theGateRunsForEveryMethodBeforeItsParamsAreRead() async throws {
        let r = self.router()
        // Refused with params that would not even decode: the refusal comes first.
        let refused = try await self.answer(r, #"{"jsonrpc":"2.0","id":1,"method":"test.bounded","params":{"n":"x"}}"#, connection: 1)
        #expect(refused["error"]?["code"] == .int(Int64(RPCErrorCode.forbidden.number)))
        let open = try await self.answer(r, #"{"jsonrpc":"2.0","id":2,"method":"test.open","params":{"n":5}}"#, connection: 1)
        #expect(open["result"] == .int(5))
        #expect(self.gate.asked.withLockedValue { $0 } == ["test.bounded", "test.open"])
        #expect(self.handled.withLockedValue { $0 } == 1)
    }

    @Test func validateRunsAfterDecodingAndBeforeTheHandler() async throws {
        let r = self.router()
        let bad = try await self.answer(r, #"{"jsonrpc":"2.0","id":1,"method":"test.bounded","params":{"n":11}}"#, connection: 2)
        #expect(bad["error"]?["code"] == .int(Int64(RPCErrorCode.validationFailed.number)))
        #expect(bad["error"]?["message"] == "n must be 1…10")
        #expect(self.handled.withLockedValue { $0 } == 0, "a refused request never reaches the handler")
        let wrongType = try await self.answer(r, #"{"jsonrpc":"2.0","id":2,"method":"test.bounded","params":{"n":"x"}}"#, connection: 2)
        #expect(wrongType["error"]?["code"] == .int(Int64(RPCErrorCode.invalidParams.number)))
        let good = try await self.answer(r, #"{"jsonrpc":"2.0","id":3,"method":"test.bounded","params":{"n":10}}"#, connection: 2)
        #expect(good["result"] == .int(20))
        // Members of a batch pass the same checks.
        let batch = try await self.answer(
            r, #"[{"jsonrpc":"2.0","id":4,"method":"test.bounded","params":{"n":0}},{"jsonrpc":"2.0","id":5,"method":"test.bounded","params":{"n":1}}]"#,
            connection: 2)
        guard case .array(let answers) = batch else {
            Issue.record("expected a batch answer, got \(batch)")
            return
        }
        let byId = Dictionary(uniqueKeysWithValues: answers.map { ($0["id"] ?? .null, $0) })
        #expect(byId[.int(4)]?["error"]?["code"] == .int(Int64(RPCErrorCode.validationFailed.number)))
        #expect(byId[.int(5)]?["result"] == .int(2))
        #expect(self.handled.withLockedValue { $0 } == 2)
    }
}
