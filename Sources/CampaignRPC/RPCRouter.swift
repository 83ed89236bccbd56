import CampaignProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Who is on the other end of a connection, from `SO_PEERCRED`.
public struct PeerCredentials: Sendable, Equatable, Codable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32
    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

/// What a handler knows of the connection a request came on.
public struct RPCContext: Sendable {
    /// Unique per server process.
    public var connectionID: UInt64
    public var peer: PeerCredentials?
    public var logger: Logger
    public init(connectionID: UInt64, peer: PeerCredentials?, logger: Logger) {
        self.connectionID = connectionID
        self.peer = peer
        self.logger = logger
    }
}

/// Told about connections coming and going (the coordinator tracks agent sessions with it).
public protocol RPCConnectionObserver: Sendable {
    func connectionOpened(_ context: RPCContext) async
    /// The client stopped sending (EOF or shutdown): long polls of this connection should return now.
    func connectionInputEnded(_ context: RPCContext) async
    /// Every request of the connection has been answered and the connection is gone.
    func connectionClosed(_ context: RPCContext) async
}

/// The dispatch table: method name → handler, plus the JSON-RPC 2.0 rules around it
/// (parse errors, invalid requests, batches, notifications, error objects).
public final class RPCRouter: Sendable {
    typealias Handler = @Sendable (ParamsSource, RPCContext) async throws -> any Encodable & Sendable

    /// Where a request's params come from: decoded straight from the request line (the fast
    /// path), or from an already-parsed value (batch members).
    enum ParamsSource: Sendable {
        case line(Data)
        case value(JSONValue?)
    }

    private let handlers: NIOLockedValueBox<[String: Handler]> = .init([:])
    /// Most requests in one batch.
    public let maximumBatchSize: Int
    public let observer: (any RPCConnectionObserver)?

    public init(maximumBatchSize: Int = 1000, observer: (any RPCConnectionObserver)? = nil) {
        self.maximumBatchSize = maximumBatchSize
        self.observer = observer
    }

    /// Registers the handler of `M`. Params are decoded as `M.Params`; a mismatch answers −32602.
    public func register<M: RPCMethod>(
        _ method: M.Type, _ body: @escaping @Sendable (M.Params, RPCContext) async throws -> M.Result
    ) {
        let handler: Handler = { source, context in
            let decoded: M.Params
            do {
                switch source {
                case .line(let data): decoded = try JSONCoding.decodeParams(M.Params.self, fromLine: data)
                case .value(let params): decoded = try JSONCoding.decodeParams(M.Params.self, from: params)
                }
            } catch {
                throw RPCError(.invalidParams, "invalid params for \(M.name): \(JSONCoding.describe(error))")
            }
            return try await body(decoded, context)
        }
        self.handlers.withLockedValue { $0[M.name] = handler }
    }

    /// The names of every registered method.
    public var methods: [String] { self.handlers.withLockedValue { Array($0.keys).sorted() } }

    /// Handles one line (a request, a notification or a batch) and returns the response line
    /// without its `\n`, or nil when nothing is to be sent (notifications only).
    public func process(line: [UInt8], context: RPCContext) async -> [UInt8]? {
        let data = Data(line)
        // Fast path for a single request: read its envelope, then its params straight into the
        // method's type — no generic tree, no re-encoding. Anything unusual (a batch, a
        // malformed envelope) takes the general path below, which words the errors.
        if line.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) == UInt8(ascii: "{"),
            let head = try? JSONCoding.decoder.decode(RequestHead.self, from: data), head.jsonrpc == "2.0",
            let method = head.method, head.params != .other
        {
            let id = head.id
            switch id {
            case nil, .string?, .int?, .double?, .null?:
                return await self.dispatch(method: method, id: id, params: .line(data), context: context)
            default:
                break  // an invalid id: the general path answers it
            }
        }
        let value: JSONValue
        do {
            value = try JSONCoding.decoder.decode(JSONValue.self, from: data)
        } catch {
            return JSONCoding.failure(id: .null, RPCError(.parseError, "parse error: not valid JSON"))
        }
        switch value {
        case .array(let items):
            if items.isEmpty {
                return JSONCoding.failure(id: .null, RPCError(.invalidRequest, "invalid request: empty batch"))
            }
            if items.count > self.maximumBatchSize {
                return JSONCoding.failure(
                    id: .null,
                    RPCError(.limitExceeded, "batch of \(items.count) exceeds the limit of \(self.maximumBatchSize)"))
            }
            var parts: [[UInt8]] = []
            for item in items {
                if let response = await self.processOne(item, context: context) { parts.append(response) }
            }
            if parts.isEmpty { return nil }
            var out: [UInt8] = [UInt8(ascii: "[")]
            for (i, p) in parts.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: p)
            }
            out.append(UInt8(ascii: "]"))
            return out
        default:
            return await self.processOne(value, context: context)
        }
    }

    /// An error response for a request refused before it was read (over the in-flight limit).
    public func refuse(line: [UInt8], error: RPCError) -> [UInt8] {
        let id = (try? JSONCoding.decoder.decode(RPCResponseID.self, from: Data(line)))?.id ?? .null
        return JSONCoding.failure(id: id, error)
    }

    private func processOne(_ value: JSONValue, context: RPCContext) async -> [UInt8]? {
        guard case .object(let object) = value else {
            return JSONCoding.failure(id: .null, RPCError(.invalidRequest, "invalid request: not an object"))
        }
        // The id, if it is a valid one, is echoed even in errors about the rest.
        let rawID = object["id"]
        let id: JSONValue?
        switch rawID {
        case nil: id = nil
        case .string?, .int?, .double?, .null?: id = rawID
        default:
            return JSONCoding.failure(id: .null, RPCError(.invalidRequest, "invalid request: id must be a string, number or null"))
        }
        guard object["jsonrpc"] == .string("2.0") else {
            return JSONCoding.failure(id: id ?? .null, RPCError(.invalidRequest, "invalid request: jsonrpc must be \"2.0\""))
        }
        guard case .string(let method)? = object["method"] else {
            return JSONCoding.failure(id: id ?? .null, RPCError(.invalidRequest, "invalid request: method must be a string"))
        }
        let params = object["params"]
        switch params {
        case nil, .object?, .array?: break
        default:
            return JSONCoding.failure(
                id: id ?? .null, RPCError(.invalidRequest, "invalid request: params must be an object or an array"))
        }
        return await self.dispatch(method: method, id: id, params: .value(params), context: context)
    }

    /// Runs the method's handler and words the response (nil for a notification).
    private func dispatch(method: String, id: JSONValue?, params: ParamsSource, context: RPCContext) async -> [UInt8]? {
        guard let handler = self.handlers.withLockedValue({ $0[method] }) else {
            guard let id else { return nil }
            return JSONCoding.failure(id: id, RPCError(.methodNotFound, "method not found: \(method)"))
        }
        var context = context
        context.logger[metadataKey: "rpc.method"] = "\(method)"
        do {
            let result = try await handler(params, context)
            guard let id else { return nil }
            return try JSONCoding.success(id: id, result: result)
        } catch let error as any RPCErrorConvertible {
            guard let id else { return nil }
            return JSONCoding.failure(id: id, error.rpcError)
        } catch {
            context.logger.error("internal error", metadata: ["error": "\(error)"])
            guard let id else { return nil }
            return JSONCoding.failure(id: id, RPCError(.internalError, "internal error"))
        }
    }
}

/// The JSON encoders and decoders of the transport, and a few helpers.
public enum JSONCoding {
    public static let decoder = JSONDecoder()
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }()

    /// Decodes the `params` member of a request line as `P` (absent or `[]`: as `{}`).
    static func decodeParams<P: Decodable>(_ type: P.Type, fromLine data: Data) throws -> P {
        try self.decoder.decode(ParamsOf<P>.self, from: data).params
    }

    static func decodeParams<P: Decodable>(_ type: P.Type, from params: JSONValue?) throws -> P {
        var value = params ?? .object([:])
        if case .array(let a) = value, a.isEmpty { value = .object([:]) }  // `[]` = no params
        let data = try self.encoder.encode(value)
        return try self.decoder.decode(P.self, from: data)
    }

    static func success(id: JSONValue, result: any Encodable & Sendable) throws -> [UInt8] {
        Array(try self.encoder.encode(RPCSuccess(id: id, result: AnyEncodable(result))))
    }

    static func failure(id: JSONValue, _ error: RPCError) -> [UInt8] {
        // An RPCFailure holds only strings, numbers and JSONValues: encoding cannot fail.
        Array((try? self.encoder.encode(RPCFailure(id: id, error: error))) ?? Data())
    }

    /// A short, safe description of a decoding error (the field path and the problem).
    public static func describe(_ error: any Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func path(_ p: [any CodingKey]) -> String {
            // Params read from the request line carry the `params` key first: name fields from inside.
            let p = p.first?.stringValue == "params" && p.first?.intValue == nil ? Array(p.dropFirst()) : p
            return p.isEmpty ? "params" : p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch e {
        case .typeMismatch(let t, let c): return "\(path(c.codingPath)): expected \(t)"
        case .valueNotFound(let t, let c): return "\(path(c.codingPath)): expected \(t), found null"
        case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])): required"
        case .dataCorrupted(let c): return "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try self.value.encode(to: encoder) }
}

/// The envelope of a request, read without building its params.
struct RequestHead: Decodable {
    enum ParamsKind: Equatable { case absent, object, emptyArray, array, other }

    var jsonrpc: String?
    var id: JSONValue?
    var method: String?
    var params: ParamsKind

    enum CodingKeys: String, CodingKey { case jsonrpc, id, method, params }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.jsonrpc = try c.decodeIfPresent(String.self, forKey: .jsonrpc)
        // `"id": null` is an id (echoed as null); an absent id makes a notification.
        if c.contains(.id) {
            self.id = .some(try c.decode(JSONValue.self, forKey: .id))
        } else {
            self.id = .none  // (not `nil` in a ternary: JSONValue is nil-literal-expressible, as .null)
        }
        self.method = try c.decodeIfPresent(String.self, forKey: .method)
        if !c.contains(.params) {
            self.params = .absent
        } else {
            self.params = try c.decode(ParamsProbe.self, forKey: .params).kind
        }
    }
}

/// Looks at what `params` is without decoding its contents.
struct ParamsProbe: Decodable {
    var kind: RequestHead.ParamsKind

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if (try? decoder.container(keyedBy: AnyKey.self)) != nil {
            self.kind = .object
        } else if var a = try? decoder.unkeyedContainer() {
            self.kind = a.isAtEnd ? .emptyArray : .array
            _ = try? a.decodeNil()
        } else {
            self.kind = .other
        }
    }
}

/// The `params` member of a request line as `P`; absent or `[]` decode as `{}`.
struct ParamsOf<P: Decodable>: Decodable {
    var params: P

    enum CodingKeys: String, CodingKey { case params }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.contains(.params), (try? c.decode(ParamsProbe.self, forKey: .params).kind) != .emptyArray {
            self.params = try c.decode(P.self, forKey: .params)
        } else {
            self.params = try JSONCoding.decoder.decode(P.self, from: Data("{}".utf8))
        }
    }
}
