import CampaignProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

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
    /// Sends the connection notifications of its own (nil where a connection cannot take them).
    public var push: RPCPush?
    public init(connectionID: UInt64, peer: PeerCredentials?, logger: Logger, push: RPCPush? = nil) {
        self.connectionID = connectionID
        self.peer = peer
        self.logger = logger
        self.push = push
    }
}

/// Writes server notifications (`{"jsonrpc":"2.0","method":…,"params":…}`, no id) on one
/// connection, between its answers. A write waits while the client is not reading (NIO's
/// back-pressure), so a slow reader slows its own notifications, nobody else's.
public struct RPCPush: Sendable {
    private let write: @Sendable (ByteBuffer) async throws -> Void

    public init(write: @escaping @Sendable (ByteBuffer) async throws -> Void) {
        self.write = write
    }

    /// Sends one notification per item of `params`, in order, in one write.
    /// - Throws: when the connection is gone.
    public func notify<P: JSONWritable>(method: String, _ params: [P]) async throws {
        guard !params.isEmpty else { return }
        let head = Array(#"{"jsonrpc":"2.0","method":"#.utf8)
        var name: [UInt8] = []
        JSONValue.writeString(method, into: &name)
        var line: [UInt8] = []
        var buffer = ByteBufferAllocator().buffer(capacity: params.count * 256)
        for p in params {
            line.removeAll(keepingCapacity: true)
            line.append(contentsOf: head)
            line.append(contentsOf: name)
            line.append(contentsOf: #","params":"#.utf8)
            p.writeJSON(into: &line)
            line.append(contentsOf: [UInt8(ascii: "}"), UInt8(ascii: "\n")])
            buffer.writeBytes(line)
        }
        try await self.write(buffer)
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

/// Decides, before anything else, whether a connection may call a method: the router asks it for
/// every request of every method (the coordinator's role check, DESIGN §6).
public protocol RPCGate: Sendable {
    /// Throws the error to answer (FORBIDDEN) when the connection may not call `M`.
    func admit<M: RPCMethod>(_ method: M.Type, _ context: RPCContext) throws
}

/// Told of every request the router dispatched: which method (`unknown` for a name not
/// registered), how it ended (`OK`, or the error's symbolic name) and how long its handler took.
public protocol RPCInstrumentation: Sendable {
    func handled(method: String, code: String, duration: Duration)
}

/// The dispatch table: method name → handler, plus the JSON-RPC 2.0 rules around it
/// (parse errors, invalid requests, batches, notifications, error objects).
public final class RPCRouter: Sendable {
    typealias Handler = @Sendable (ParamsSource, RPCContext) async throws -> any Encodable & Sendable

    /// Where a request's params come from: decoded straight from the request line (the fast
    /// path), or from an already-parsed value (batch members).
    enum ParamsSource: Sendable {
        /// The request's line, and its tree when the line was parsed whole (the fast path).
        case line(Data, tree: JSONValue?)
        case value(JSONValue?)
    }

    private let handlers: NIOLockedValueBox<[String: Handler]> = .init([:])
    /// Most requests in one batch.
    public let maximumBatchSize: Int
    /// Deepest nesting of arrays and objects in a line; deeper is a parse error. (Foundation's
    /// parser allows 512 and crashes on some input just past it; see ``RequestScanner``.)
    public let maximumDepth: Int
    public let observer: (any RPCConnectionObserver)?
    /// Asked first for every request (nil: every method is open).
    public let gate: (any RPCGate)?
    /// Told of every request dispatched (metrics).
    public let instrumentation: (any RPCInstrumentation)?

    public init(
        maximumBatchSize: Int = 1000, maximumDepth: Int = 128, observer: (any RPCConnectionObserver)? = nil,
        gate: (any RPCGate)? = nil, instrumentation: (any RPCInstrumentation)? = nil
    ) {
        self.instrumentation = instrumentation
        self.maximumBatchSize = maximumBatchSize
        self.maximumDepth = min(max(2, maximumDepth), 512)
        self.observer = observer
        self.gate = gate
    }

    /// Registers the handler of `M`. The gate runs first (a refusal is answered before the
    /// params are even looked at); then params are decoded as `M.Params`, a mismatch answers −32602.
    public func register<M: RPCMethod>(
        _ method: M.Type, _ body: @escaping @Sendable (M.Params, RPCContext) async throws -> M.Result
    ) {
        self.install(method, validate: nil, body)
    }

    /// Registers the handler of `M`, whose params check their own limits: after decoding,
    /// `validate()` runs, and its error is the answer (VALIDATION_FAILED) before the handler runs.
    public func register<M: RPCMethod>(
        _ method: M.Type, _ body: @escaping @Sendable (M.Params, RPCContext) async throws -> M.Result
    ) where M.Params: ValidatedParams {
        self.install(method, validate: { try $0.validate() }, body)
    }

    private func install<M: RPCMethod>(
        _ method: M.Type, validate: (@Sendable (M.Params) throws -> Void)?,
        _ body: @escaping @Sendable (M.Params, RPCContext) async throws -> M.Result
    ) {
        let gate = self.gate
        let handler: Handler = { source, context in
            try gate?.admit(M.self, context)
            let decoded: M.Params
            do {
                switch source {
                case .line(let data, let tree): decoded = try JSONCoding.decodeParams(M.Params.self, fromLine: data, tree: tree)
                case .value(let params): decoded = try JSONCoding.decodeParams(M.Params.self, from: params)
                }
            } catch {
                throw RPCError(.invalidParams, "invalid params for \(M.name): \(JSONCoding.describe(error))")
            }
            try validate?(decoded)
            return try await body(decoded, context)
        }
        self.handlers.withLockedValue { $0[M.name] = handler }
    }

    /// The names of every registered method.
    public var methods: [String] { self.handlers.withLockedValue { Array($0.keys).sorted() } }

    /// Handles one line (a request, a notification or a batch) and returns the response line
    /// without its `\n`, or nil when nothing is to be sent (notifications only).
    public func process(line: [UInt8], context: RPCContext) async -> [UInt8]? {
        // First a pass of our own: the grammar, UTF-8, the depth, and where the ids are.
        let scan: RequestScanner.Result
        switch RequestScanner.scan(line, maximumDepth: self.maximumDepth) {
        case .success(let s): scan = s
        case .failure(let f): return JSONCoding.failure(id: JSONCoding.nullID, RPCError(.parseError, Self.describe(f)))
        }
        // Ids are echoed from the line's own bytes. Number ids are blanked out for the decoder,
        // which need not (and cannot always) hold them: `1e400` is beyond a Double.
        var bytes = line
        for span in scan.numberIDSpans {
            bytes[span.lowerBound] = UInt8(ascii: "0")
            for k in span.dropFirst() { bytes[k] = UInt8(ascii: " ") }
        }
        let data = Data(bytes)
        switch scan.shape {
        case .scalar:
            return JSONCoding.failure(id: JSONCoding.nullID, RPCError(.invalidRequest, "invalid request: not an object"))
        case .object(let id):
            // Fast path for a single request: read its envelope, then its params straight into the
            // method's type — no generic tree, no re-encoding. Anything unusual (a malformed
            // envelope) takes the general path below, which words the errors.
            // The envelope from one parse of the line by the Codable-free parser (whose tree the
            // hot methods read their params from); a line it cannot hold goes the Codable way.
            if id != .invalid, let tree = try? JSONValue(jsonUTF8: bytes) {
                if let head = RequestHead(tree), head.jsonrpc == "2.0", let method = head.method, head.params != .other {
                    return await self.dispatch(method: method, id: id.raw, params: .line(data, tree: tree), context: context)
                }
            } else if id != .invalid, let head = try? JSONCoding.decoder.decode(RequestHead.self, from: data),
                head.jsonrpc == "2.0", let method = head.method, head.params != .other
            {
                return await self.dispatch(method: method, id: id.raw, params: .line(data, tree: nil), context: context)
            }
            guard let value = try? JSONCoding.decoder.decode(JSONValue.self, from: data) else {
                return JSONCoding.failure(id: JSONCoding.nullID, Self.unrepresentable)
            }
            return await self.processOne(value, id: id, context: context)
        case .array(let ids):
            if ids.isEmpty {
                return JSONCoding.failure(id: JSONCoding.nullID, RPCError(.invalidRequest, "invalid request: empty batch"))
            }
            if ids.count > self.maximumBatchSize {
                return JSONCoding.failure(
                    id: JSONCoding.nullID,
                    RPCError(
                        .limitExceeded, "batch of \(ids.count) exceeds the limit of \(self.maximumBatchSize)",
                        details: ["limit": "batchSize", "maximum": .int(Int64(self.maximumBatchSize))]))
            }
            guard let items = try? JSONCoding.decoder.decode([JSONValue].self, from: data), items.count == ids.count else {
                return JSONCoding.failure(id: JSONCoding.nullID, Self.unrepresentable)
            }
            var parts: [[UInt8]] = []
            for (item, id) in zip(items, ids) {
                if let response = await self.processOne(item, id: id, context: context) { parts.append(response) }
            }
            if parts.isEmpty { return nil }
            var out: [UInt8] = [UInt8(ascii: "[")]
            for (i, p) in parts.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: p)
            }
            out.append(UInt8(ascii: "]"))
            return out
        }
    }

    /// The error response for a line that was not read (over the in-flight limit), with the
    /// request's id when it has one — or nil for a notification (or a batch of them), which is
    /// never answered, not even to say it was dropped.
    public func refuse(line: [UInt8], error: RPCError) -> [UInt8]? {
        guard case .success(let scan) = RequestScanner.scan(line, maximumDepth: self.maximumDepth) else {
            return JSONCoding.failure(id: JSONCoding.nullID, error)
        }
        switch scan.shape {
        case .object(.absent): return nil
        case .object(.valid(let id)): return JSONCoding.failure(id: id, error)
        case .array(let ids) where !ids.isEmpty && ids.allSatisfy({ $0 == .absent }): return nil
        default: return JSONCoding.failure(id: JSONCoding.nullID, error)
        }
    }

    /// An error response with id null (for what cannot be tied to a request, e.g. a line too long).
    public static func errorResponse(_ error: RPCError) -> [UInt8] {
        JSONCoding.failure(id: JSONCoding.nullID, error)
    }

    /// Valid JSON that Foundation cannot hold (the scanner already checked the grammar and UTF-8).
    private static let unrepresentable = RPCError(
        .parseError, "parse error: a value cannot be represented (a number beyond ±1.8e308, or a lone UTF-16 surrogate)")

    static func describe(_ failure: RequestScanner.Failure) -> String {
        switch failure {
        case .syntax(let offset): return "parse error: not valid JSON (at byte \(offset))"
        case .invalidUTF8(let offset): return "parse error: not valid UTF-8 (at byte \(offset))"
        case .tooDeep(let limit): return "parse error: arrays and objects nested deeper than \(limit) levels"
        }
    }

    private func processOne(_ value: JSONValue, id: RequestScanner.ID?, context: RPCContext) async -> [UInt8]? {
        guard case .object(let object) = value, let id else {
            return JSONCoding.failure(id: JSONCoding.nullID, RPCError(.invalidRequest, "invalid request: not an object"))
        }
        // The id, if it is a valid one, is echoed even in errors about the rest.
        if id == .invalid {
            return JSONCoding.failure(
                id: JSONCoding.nullID, RPCError(.invalidRequest, "invalid request: id must be a string, number or null"))
        }
        let echo = id.raw ?? JSONCoding.nullID
        guard object["jsonrpc"] == .string("2.0") else {
            return JSONCoding.failure(id: echo, RPCError(.invalidRequest, "invalid request: jsonrpc must be \"2.0\""))
        }
        guard case .string(let method)? = object["method"] else {
            return JSONCoding.failure(id: echo, RPCError(.invalidRequest, "invalid request: method must be a string"))
        }
        let params = object["params"]
        switch params {
        case nil, .object?, .array?: break
        default:
            return JSONCoding.failure(
                id: echo, RPCError(.invalidRequest, "invalid request: params must be an object or an array"))
        }
        return await self.dispatch(method: method, id: id.raw, params: .value(params), context: context)
    }

    /// Runs the method's handler and words the response (nil for a notification).
    /// `id` is the raw bytes of the request's id, nil for a notification.
    private func dispatch(method: String, id: [UInt8]?, params: ParamsSource, context: RPCContext) async -> [UInt8]? {
        guard let handler = self.handlers.withLockedValue({ $0[method] }) else {
            self.instrumentation?.handled(method: "unknown", code: RPCErrorCode.methodNotFound.name, duration: .zero)
            guard let id else { return nil }
            return JSONCoding.failure(id: id, RPCError(.methodNotFound, "method not found: \(method)"))
        }
        var context = context
        context.logger[metadataKey: "rpc.method"] = "\(method)"
        let started = ContinuousClock.now
        let outcome: Result<[UInt8]?, RPCError>
        do {
            let result = try await handler(params, context)
            outcome = .success(try id.map { try JSONCoding.success(id: $0, result: result) })
        } catch let error as any RPCErrorConvertible {
            outcome = .failure(error.rpcError)
        } catch {
            context.logger.error("internal error", metadata: ["error": "\(error)"])
            outcome = .failure(RPCError(.internalError, "internal error"))
        }
        switch outcome {
        case .success(let response):
            self.instrumentation?.handled(method: method, code: "OK", duration: ContinuousClock.now - started)
            return response
        case .failure(let error):
            self.instrumentation?.handled(
                method: method, code: error.symbol ?? String(error.code), duration: ContinuousClock.now - started)
            guard let id else { return nil }
            return JSONCoding.failure(id: id, error)
        }
    }
}
