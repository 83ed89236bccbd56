import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// A telephony provider's HTTP API on loopback, for tests of the `http` placer: it creates calls
/// (`POST /calls`, deduplicated by `Idempotency-Key`), lets them ring for a while and end with a
/// status (`GET /calls/<id>`), and counts everything. Its misbehaviour is scripted per test.
public final class FakeProvider: Sendable {
    public struct Behaviour: Sendable {
        /// The bearer token it expects.
        public var token = "test-token"
        /// Per key, answer the first N POSTs with `failStatus` (no call created).
        public var failFirstPosts = 0
        public var failStatus = 503
        /// Per key, after those, close the connection without answering the next N POSTs.
        public var dropFirstPosts = 0
        /// Whether a dropped POST created the call anyway (its answer was lost on the way).
        public var dropAfterCreating = false
        /// Answer every POST with this status and no call (a refusal such as 400 or 402).
        public var refuseStatus: Int?
        /// Wait this long before answering a POST / a status poll.
        public var postDelay: Duration = .zero
        public var pollDelay: Duration = .zero
        /// Answer an accepted POST with a body that is not JSON.
        public var malformedAccept = false
        /// Answer status polls with a body that is not JSON.
        public var malformedPolls = false
        /// Put `statusUrl` into the acceptance (else the client must derive the URL).
        public var giveStatusURL = true
        /// How long a call rings before it ends, and how it ends, by idempotency key.
        public var callDuration: @Sendable (String) -> Duration = { _ in .milliseconds(50) }
        public var finalStatus: @Sendable (String) -> String = { _ in "completed" }
        /// When set, a call ends at its Nth status poll instead of after `callDuration`.
        public var endAtPoll: Int?
        /// Calls that never end (the status stays `in-progress`).
        public var neverEnds = false
        /// Calls the provider forgets once created, by key: every `GET` of them (poll or lookup)
        /// answers `404 no such call` (the call still counts as created).
        public var forgets: @Sendable (String) -> Bool = { _ in false }
        /// Answer every `GET` (polls and lookups) with this status (a provider whose status API is down)…
        public var failGets: Int?
        /// … of the calls under these keys only (nil: of every call).
        public var failGetsOf: (@Sendable (String) -> Bool)?

        public init() {}
    }

    public struct Call: Sendable {
        public var id: String
        public var key: String
        /// The POST body that created the call.
        public var requestBody: String
        public var endsAt: ContinuousClock.Instant
        public var finalStatus: String
        public var polls = 0
    }

    /// A `GET` the provider answered, by key: a status poll or lookup by id (`byId`), or a lookup
    /// by idempotency key.
    public struct Get: Sendable, Equatable {
        public var key: String
        public var byKey: Bool
        public var status: Int
    }

    struct State {
        var behaviour: Behaviour
        var posts: [String: Int] = [:]
        var calls: [String: Call] = [:]  // by id
        var callByKey: [String: String] = [:]
        var callsCreated: [String: Int] = [:]  // by key
        var unauthorized = 0
        var nextID = 1
        var gets: [Get] = []
    }

    private let state: NIOLockedValueBox<State>
    private let channel: NIOLockedValueBox<(any Channel)?>

    public init(behaviour: Behaviour = Behaviour()) {
        self.state = NIOLockedValueBox(State(behaviour: behaviour))
        self.channel = NIOLockedValueBox(nil)
    }

    /// Starts listening on 127.0.0.1 (port 0: any free port). Returns the port.
    @discardableResult
    public func start(port: Int = 0) async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(Handler(provider: self))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        self.channel.withLockedValue { $0 = channel }
        return channel.localAddress!.port!
    }

    public func stop() async {
        let channel = self.channel.withLockedValue { c -> (any Channel)? in
            defer { c = nil }
            return c
        }
        try? await channel?.close()
    }

    /// A loopback port that refuses connections for as long as the reservation lives: a TCP
    /// socket bound to it without listening (a connect gets RST, "connection refused"), and
    /// without SO_REUSEADDR, so no other test's server can bind the port meanwhile. A port
    /// that was merely free once (bind 0, close) is not: under the parallel suite another
    /// test's provider took such a port and answered the calls meant to be refused.
    public final class ReservedPort: @unchecked Sendable {
        public let port: Int
        private let lock = NIOLock()
        private var fd: Int32

        public init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = 0
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
                    bind(fd, p, len) == 0 && getsockname(fd, p, &len) == 0
                }
            }
            guard bound else {
                let code = errno
                close(fd)
                throw IOError(errnoCode: code, reason: "bind 127.0.0.1:0")
            }
            self.fd = fd
            self.port = Int(UInt16(bigEndian: addr.sin_port))
        }

        /// Frees the port (to start a server on it at once). Idempotent.
        public func release() {
            self.lock.withLock {
                if self.fd >= 0 { close(self.fd) }
                self.fd = -1
            }
        }

        deinit { self.release() }
    }

    public func setBehaviour(_ change: @Sendable (inout Behaviour) -> Void) {
        self.state.withLockedValue { change(&$0.behaviour) }
    }

    /// POSTs seen per idempotency key.
    public var posts: [String: Int] { self.state.withLockedValue { $0.posts } }
    /// Calls created per idempotency key (a provider that dedupes keeps this at 1).
    public var callsCreated: [String: Int] { self.state.withLockedValue { $0.callsCreated } }
    public var calls: [Call] { self.state.withLockedValue { Array($0.calls.values) } }
    public var unauthorized: Int { self.state.withLockedValue { $0.unauthorized } }
    /// Every `GET` of a call answered, in order.
    public var gets: [Get] { self.state.withLockedValue { $0.gets } }
    /// Lookups by idempotency key answered, per key.
    public var lookupsByKey: [String: Int] {
        self.state.withLockedValue { s in s.gets.filter(\.byKey).reduce(into: [:]) { $0[$1.key, default: 0] += 1 } }
    }

    // MARK: - Handling

    struct Answer {
        var status: HTTPResponseStatus
        var body: String
        var delay: Duration
        var drop = false
    }

    func answer(method: HTTPMethod, uri: String, headers: HTTPHeaders, body: [UInt8]) -> Answer {
        self.state.withLockedValue { s in
            let b = s.behaviour
            guard headers.first(name: "authorization") == "Bearer \(b.token)" else {
                s.unauthorized += 1
                return Answer(status: .unauthorized, body: #"{"error":"bad token"}"#, delay: .zero)
            }
            let path = uri.split(separator: "?").first.map(String.init) ?? uri
            if method == .POST && path == "/calls" {
                guard let key = headers.first(name: "idempotency-key"), !key.isEmpty else {
                    return Answer(status: .badRequest, body: #"{"error":"Idempotency-Key required"}"#, delay: .zero)
                }
                guard (try? JSONSerialization.jsonObject(with: Data(body))) is [String: Any] else {
                    return Answer(status: .badRequest, body: #"{"error":"body must be a JSON object"}"#, delay: .zero)
                }
                s.posts[key, default: 0] += 1
                let n = s.posts[key]!
                if let existing = s.callByKey[key], let call = s.calls[existing] {
                    return Answer(status: .ok, body: Self.acceptance(call, b), delay: b.postDelay)
                }
                if n <= b.failFirstPosts {
                    return Answer(status: .init(statusCode: b.failStatus), body: #"{"error":"try later"}"#, delay: .zero)
                }
                if let refuse = b.refuseStatus {
                    return Answer(status: .init(statusCode: refuse), body: #"{"error":"refused"}"#, delay: .zero)
                }
                let dropping = n <= b.failFirstPosts + b.dropFirstPosts
                if dropping && !b.dropAfterCreating { return Answer(status: .ok, body: "", delay: .zero, drop: true) }
                let id = "call-\(s.nextID)"
                s.nextID += 1
                let call = Call(
                    id: id, key: key,
                    requestBody: String(decoding: body, as: UTF8.self),
                    endsAt: .now + b.callDuration(key), finalStatus: b.finalStatus(key))
                s.calls[id] = call
                s.callByKey[key] = id
                s.callsCreated[key, default: 0] += 1
                if dropping { return Answer(status: .ok, body: "", delay: .zero, drop: true) }
                if b.malformedAccept { return Answer(status: .created, body: "<html>accepted</html>", delay: b.postDelay) }
                return Answer(status: .created, body: Self.acceptance(call, b), delay: b.postDelay)
            }
            let query = uri.split(separator: "?", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
            if method == .GET && path == "/calls", query.hasPrefix("idempotencyKey=") {
                // A lookup by key: the call created under it, if any.
                let key = String(query.dropFirst("idempotencyKey=".count)).removingPercentEncoding ?? ""
                let id = s.callByKey[key]
                let forgotten = id.map { s.calls[$0].map { b.forgets($0.key) } ?? true } ?? true
                let failing = b.failGets.flatMap { (b.failGetsOf?(key) ?? true) ? $0 : nil }
                let status = failing ?? (forgotten ? 404 : 200)
                s.gets.append(Get(key: key, byKey: true, status: status))
                if status == 404 { return Answer(status: .notFound, body: #"{"error":"no such call"}"#, delay: .zero) }
                if status != 200 {
                    return Answer(status: .init(statusCode: status), body: #"{"error":"unavailable"}"#, delay: .zero)
                }
                return Answer(status: .ok, body: Self.statusDocument(s.calls[id!]!, b), delay: b.pollDelay)
            }
            if method == .GET && path.hasPrefix("/calls/") {
                let id = String(path.dropFirst("/calls/".count))
                guard var call = s.calls[id], !b.forgets(call.key) else {
                    if let call = s.calls[id] { s.gets.append(Get(key: call.key, byKey: false, status: 404)) }
                    return Answer(status: .notFound, body: #"{"error":"no such call"}"#, delay: .zero)
                }
                if let status = b.failGets, b.failGetsOf?(call.key) ?? true {
                    s.gets.append(Get(key: call.key, byKey: false, status: status))
                    return Answer(status: .init(statusCode: status), body: #"{"error":"unavailable"}"#, delay: .zero)
                }
                s.gets.append(Get(key: call.key, byKey: false, status: 200))
                call.polls += 1
                s.calls[id] = call
                if b.malformedPolls { return Answer(status: .ok, body: "{not json", delay: b.pollDelay) }
                return Answer(status: .ok, body: Self.statusDocument(call, b), delay: b.pollDelay)
            }
            return Answer(status: .notFound, body: #"{"error":"no route"}"#, delay: .zero)
        }
    }

    /// The call's status as a `GET` answers it: in progress until it ends, then its final status.
    static func statusDocument(_ call: Call, _ b: Behaviour) -> String {
        let ended = !b.neverEnds && (b.endAtPoll.map { call.polls >= $0 } ?? (ContinuousClock.now >= call.endsAt))
        let status = ended ? call.finalStatus : "in-progress"
        return #"{"id":"\#(call.id)","status":"\#(status)","durationMs":\#(ended ? 1234 : 0)}"#
    }

    static func acceptance(_ call: Call, _ b: Behaviour) -> String {
        b.giveStatusURL
            ? #"{"id":"\#(call.id)","status":"queued","statusUrl":"/calls/\#(call.id)"}"#
            : #"{"id":"\#(call.id)","status":"queued"}"#
    }

    final class Handler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        let provider: FakeProvider
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(provider: FakeProvider) {
            self.provider = provider
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch self.unwrapInboundIn(data) {
            case .head(let head):
                self.head = head
                self.body = []
            case .body(var buffer):
                self.body += buffer.readBytes(length: buffer.readableBytes) ?? []
            case .end:
                guard let head = self.head else { return }
                let answer = self.provider.answer(method: head.method, uri: head.uri, headers: head.headers, body: self.body)
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let keepAlive = head.isKeepAlive
                let respond = {
                    let (handler, context) = bound.value
                    if answer.drop {
                        context.close(promise: nil)
                        return
                    }
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: "application/json")
                    headers.add(name: "Content-Length", value: "\(answer.body.utf8.count)")
                    var responseHead = HTTPResponseHead(version: .http1_1, status: answer.status, headers: headers)
                    responseHead.headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
                    context.write(handler.wrapOutboundOut(.head(responseHead)), promise: nil)
                    context.write(handler.wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer.body)))), promise: nil)
                    context.writeAndFlush(handler.wrapOutboundOut(.end(nil))).whenComplete { _ in
                        if !keepAlive { context.close(promise: nil) }
                    }
                }
                if answer.delay > .zero {
                    let c = answer.delay.components
                    let ns = c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
                    context.eventLoop.scheduleTask(in: .nanoseconds(ns)) { respond() }
                } else {
                    respond()
                }
            }
        }
    }
}
