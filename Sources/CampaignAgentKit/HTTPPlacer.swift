import AsyncHTTPClient
import CampaignCore
import CampaignProtocol
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Places each call through a provider's HTTP API (DESIGN §8; README, "Placing calls").
///
/// 1. `POST <endpoint>` with the call request as JSON, `Authorization: Bearer <token>` (read from
///    a file, the systemd credential, on every call so a rotated token needs no restart) and
///    `Idempotency-Key: <key>`. Until the provider has accepted the call, transport errors,
///    `429`, `5xx` and `409` are retried with backoff and the same key; another `4xx` means no
///    call. An answer `2xx` with `{"id": …, "status"?: …, "statusUrl"?: …}` is the acceptance.
/// 2. From then on no second `POST` is ever sent for the key. The call is followed by polling
///    `GET <statusUrl>` (else the `Location` header, else `<endpoint>/<id>`) until its status is
///    final (``ProviderStatusMap``) or the call's hard limit: then the outcome is unknown and
///    the job is failed for good, with the provider's call id kept in the call log.
///
/// What to do when is ``HTTPCallStateMachine``'s to decide; this class performs its actions (the
/// HTTP requests, the pauses, reading the token) and logs.
public final class HTTPPlacer: Placer {
    public struct Configuration: Sendable {
        /// Where calls are created, e.g. `https://provider.example/v1/calls`.
        public var endpoint: String
        /// File holding the bearer token (one line); nil sends no `Authorization` header.
        public var tokenFile: String?
        /// Pause between status polls.
        public var pollInterval: Duration
        /// Limit of one HTTP request (connect, send, first byte and body).
        public var requestTimeout: Duration
        /// Most `POST`s for one key before giving up (all under the same key).
        public var maximumPosts: Int
        /// First pause between `POST` retries; doubles up to 5 s, with jitter.
        public var retryBackoff: Duration
        public var statusMap: ProviderStatusMap
        /// Most bytes read of a response body.
        public var maximumBodyBytes: Int
        /// Connections to the provider at once (the HTTP client's default, 8, held an agent with more
        /// calls than that to 8 requests at a time: polls waited for a connection, and timed out).
        /// The agent sets its capacity.
        public var maximumConnections: Int = 8
        /// Where a call is looked up by its provider id, `{callId}` replaced (percent-encoded);
        /// nil: `<endpoint>/{callId}` (issue 16).
        public var lookupURLTemplate: String?
        /// Where a call is looked up by its idempotency key, `{idempotencyKey}` replaced
        /// (percent-encoded), for a call whose id was never learnt; nil: no lookup by key.
        public var lookupByKeyURLTemplate: String?

        public init(
            endpoint: String, tokenFile: String? = nil, pollInterval: Duration = .seconds(2),
            requestTimeout: Duration = .seconds(10), maximumPosts: Int = 6, retryBackoff: Duration = .milliseconds(250),
            statusMap: ProviderStatusMap = .default, maximumBodyBytes: Int = 1 << 20
        ) {
            self.endpoint = endpoint
            self.tokenFile = tokenFile
            self.pollInterval = pollInterval
            self.requestTimeout = requestTimeout
            self.maximumPosts = maximumPosts
            self.retryBackoff = retryBackoff
            self.statusMap = statusMap
            self.maximumBodyBytes = maximumBodyBytes
        }
    }

    public let configuration: Configuration
    public var provider: String { "http" }
    private let client: HTTPClient
    private let logger: Logger
    private let clock: PlacerClock

    /// - Parameter clock: what the pauses between polls and retries and the hard limit run on
    ///   (requests' own timeouts are the HTTP client's, on the wall clock).
    public init(configuration: Configuration, logger: Logger, clock: PlacerClock = .continuous) {
        self.configuration = configuration
        self.logger = logger
        self.clock = clock
        var config = HTTPClient.Configuration()
        // A refused connection must fail the attempt now (it is retried here, where we know
        // that nothing was sent), not wait in the pool until the deadline.
        config.connectionPool.retryConnectionEstablishment = false
        config.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(1, configuration.maximumConnections)
        config.timeout.connect = .seconds(5)
        config.redirectConfiguration = .disallow
        config.decompression = .disabled
        self.client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: config)
    }

    public func shutdown() async {
        try? await self.client.shutdown()
    }

    public var canLookUp: Bool { true }

    public func place(_ request: CallRequest) async -> PlacedCall {
        await self.follow(request) { machine, now in machine.start(now: now) }
    }

    public func resume(_ request: CallRequest, following call: AcceptedCall) async -> PlacedCall {
        await self.follow(request) { machine, now in
            machine.resume(callId: call.providerCallId, statusURL: call.statusURL, now: now)
        }
    }

    /// Runs one call's machine from `begin` (the first `POST`, or the first poll of a resumed call).
    private func follow(
        _ request: CallRequest,
        begin: (inout HTTPCallStateMachine, ContinuousClock.Instant) -> HTTPCallStateMachine.Action
    ) async -> PlacedCall {
        var logger = self.logger
        logger[metadataKey: "call.key"] = "\(request.idempotencyKey)"
        let token: String?
        do {
            token = try self.configuration.tokenFile.map(Self.readToken)
        } catch {
            return .notPlaced("cannot read the provider token: \(error)")
        }
        guard let endpoint = URL(string: self.configuration.endpoint), endpoint.scheme != nil else {
            return .notPlaced("invalid provider endpoint \(self.configuration.endpoint)")
        }

        // The machine decides (HTTPCallStateMachine); this loop sends, sleeps and logs. Every POST
        // goes out under the same key, and none once the provider has accepted the call.
        let body = ProviderJSON.encode(request.providerBody)
        var machine = HTTPCallStateMachine(
            configuration: self.configuration, endpoint: endpoint, deadline: request.deadline)
        var action = begin(&machine, self.clock.now())
        var toldAccepted = machine.acceptedCall != nil  // a resumed call was spooled already
        while true {
            if !toldAccepted, let call = machine.acceptedCall {
                // Before anything else: a restart from here on follows the call, never POSTs again.
                toldAccepted = true
                request.accepted?(call)
            }
            for note in action.notes { self.log(note, to: logger) }
            switch action.next {
            case .finish(let placed):
                return placed
            case _ where Task.isCancelled:
                action = machine.taskCancelled()
            case .post, .sleepThenPost:
                if case .sleepThenPost(let until) = action.next {
                    try? await self.clock.sleep(until)
                }
                let exchange = await self.exchange(
                    .POST, url: endpoint.absoluteString, token: token, key: request.idempotencyKey, body: body,
                    deadline: request.deadline)
                action = machine.postCompleted(exchange, now: self.clock.now())
            case .poll(let url, let at):
                try? await self.clock.sleep(at)
                let exchange = await self.exchange(
                    .GET, url: url, token: token, key: request.idempotencyKey, body: nil, deadline: request.deadline)
                action = machine.pollCompleted(exchange, now: self.clock.now())
            }
        }
    }

    /// A `GET` of the call: by its provider id when known, else by its idempotency key (when a URL
    /// for that is configured). It never creates a call.
    ///
    /// Only the lookup by key can say "no such call": the key is what the provider deduplicates
    /// on. A `404` by id (a call the provider did accept, or a lookup URL that is wrong for every
    /// call) is asked again by key when that is configured, and is otherwise left unknown, so
    /// that a wrong template cannot redial every unknown outcome.
    public func lookup(_ request: LookupRequest) async -> LookupAnswer {
        let token: String?
        do {
            token = try self.configuration.tokenFile.map(Self.readToken)
        } catch {
            return .unknown("cannot read the provider token: \(error)")
        }
        let call = request.call
        var answer: LookupAnswer = .unknown(
            "no provider call id, and no URL to look a call up by its key (--http-lookup-by-key-url)")
        if let url = Self.lookupURL(byIdOf: call, self.configuration) {
            answer = await self.get(url, call: call, token: token, deadline: request.deadline)
            guard case .notPlaced(let why) = answer else { return self.logged(answer, call) }
            answer = .unknown("\(why); not taken as the provider's word without a lookup by key (--http-lookup-by-key-url)")
        }
        if let url = Self.lookupURL(byKeyOf: call, self.configuration) {
            answer = await self.get(url, call: call, token: token, deadline: request.deadline)
        }
        return self.logged(answer, call)
    }

    private func get(_ url: String, call: UnknownCall, token: String?, deadline: ContinuousClock.Instant) async
        -> LookupAnswer
    {
        let exchange = await self.exchange(.GET, url: url, token: token, key: call.idempotencyKey, body: nil, deadline: deadline)
        return HTTPCallStateMachine.lookupAnswer(
            exchange, url: url, callId: call.providerCallId, statusMap: self.configuration.statusMap)
    }

    private func logged(_ answer: LookupAnswer, _ call: UnknownCall) -> LookupAnswer {
        self.logger.debug("looked the call up", metadata: ["call.key": "\(call.idempotencyKey)", "answer": "\(answer)"])
        return answer
    }

    /// Where a call is looked up by its provider id (nil: it has none, or the endpoint is invalid).
    static func lookupURL(byIdOf call: UnknownCall, _ configuration: Configuration) -> String? {
        guard let id = call.providerCallId else { return nil }
        if let template = configuration.lookupURLTemplate {
            return template.replacingOccurrences(of: "{callId}", with: Self.escaped(id))
        }
        guard let endpoint = URL(string: configuration.endpoint) else { return nil }
        return HTTPCallStateMachine.statusURL(created: [:], location: nil, endpoint: endpoint, callId: id)
    }

    /// Where a call is looked up by its idempotency key (nil: no URL for that is configured).
    static func lookupURL(byKeyOf call: UnknownCall, _ configuration: Configuration) -> String? {
        configuration.lookupByKeyURLTemplate?.replacingOccurrences(
            of: "{idempotencyKey}", with: Self.escaped(call.idempotencyKey))
    }

    /// Percent-encodes all but RFC 3986's unreserved characters: safe in a path segment and in a
    /// query value (where `+` would read as a space).
    static func escaped(_ s: String) -> String {
        s.addingPercentEncoding(
            withAllowedCharacters: CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"))
            ?? s
    }

    /// Logs what the machine noted, with the lines and levels the placer has always used.
    private func log(_ note: HTTPCallStateMachine.Note, to logger: Logger) {
        switch note {
        case .postNotSent(let why):
            logger.notice("provider not reached; retrying", metadata: ["error": "\(why)"])
        case .postUnanswered(let why):
            logger.notice("no answer from the provider; retrying with the same key", metadata: ["error": "\(why)"])
        case .postRefusedForNow(let status):
            logger.notice(
                "provider refused for now; retrying with the same key", metadata: ["http.status": "\(status)"])
        case .accepted(let callId):
            logger.debug("provider accepted the call", metadata: ["provider.call": "\(callId)"])
        case .unknownStatus(let status):
            // The placer's own logger, without `call.key`, as this line has always been logged.
            self.logger.notice(
                "unknown provider status, still following the call", metadata: ["status": "\(status)"])
        case .statusNotObject(let snippet):
            logger.warning("status answer is not a JSON object", metadata: ["body": "\(snippet)"])
        case .pollRefused(let status):
            logger.warning("status poll refused", metadata: ["http.status": "\(status)"])
        case .pollFailed(let why):
            logger.warning("status poll failed", metadata: ["error": "\(why)"])
        }
    }

    private func exchange(
        _ method: HTTPMethod, url: String, token: String?, key: String, body: [UInt8]?, deadline: ContinuousClock.Instant
    ) async -> HTTPCallStateMachine.Exchange {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "User-Agent", value: "campaign-agent/\(CampaignVersion.current)")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: key)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let left = deadline - self.clock.now()
        guard left > .zero else { return .notSent("the call's hard limit was reached") }
        let timeout = min(self.configuration.requestTimeout, left)
        do {
            let response = try await self.client.execute(
                request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                    + timeout.components.attoseconds / 1_000_000_000))
            let bytes = try await response.body.collect(upTo: self.configuration.maximumBodyBytes)
            return .response(
                status: Int(response.status.code), location: response.headers.first(name: "location"),
                body: Array(buffer: bytes))
        } catch {
            return Self.neverSent(error) ? .notSent("\(error)") : .noAnswer("\(error)")
        }
    }

    /// True for errors that happen before a request can have left this machine.
    static func neverSent(_ error: any Error) -> Bool {
        if let e = error as? HTTPClientError, e == .connectTimeout || e == .invalidURL || e == .emptyHost { return true }
        if error is NIOConnectionError { return true }
        if let e = error as? ChannelError, case .connectTimeout = e { return true }
        if let e = error as? IOError,
            [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, ECONNABORTED].contains(e.errnoCode)
        {
            return true
        }
        return false
    }

    static func readToken(_ path: String) throws -> String {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw ConfigurationError("\(path) is empty") }
        return token
    }
}
