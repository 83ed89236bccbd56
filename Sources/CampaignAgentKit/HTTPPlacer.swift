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

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var config = HTTPClient.Configuration()
        // A refused connection must fail the attempt now (it is retried here, where we know
        // that nothing was sent), not wait in the pool until the deadline.
        config.connectionPool.retryConnectionEstablishment = false
        config.timeout.connect = .seconds(5)
        config.redirectConfiguration = .disallow
        config.decompression = .disabled
        self.client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: config)
    }

    public func shutdown() async {
        try? await self.client.shutdown()
    }

    /// What one HTTP exchange gave.
    enum Exchange {
        case response(status: Int, headers: HTTPHeaders, body: [UInt8])
        /// Nothing reached the provider (connecting failed).
        case notSent(String)
        /// The request may have reached the provider; no answer came back.
        case noAnswer(String)
    }

    public func place(_ request: CallRequest) async -> PlacedCall {
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

        // 1. Create the call, retrying under the same key until the provider accepts it.
        let body = ProviderJSON.encode(request.providerBody)
        var mayHaveReached = false
        var lastProblem = ""
        var backoff = self.configuration.retryBackoff
        var posts = 0
        var accepted: (headers: HTTPHeaders, body: [String: JSONValue])?
        while accepted == nil {
            if posts >= self.configuration.maximumPosts || ContinuousClock.now >= request.deadline || Task.isCancelled {
                let detail: [String: JSONValue] = ["posts": .int(Int64(posts)), "lastProblem": .string(lastProblem)]
                return mayHaveReached
                    ? .unknown("the provider did not confirm the call (\(lastProblem))", detail)
                    : .notPlaced("the provider could not be reached (\(lastProblem))", detail)
            }
            if posts > 0 {
                let pause = backoff / 2 + Self.jitter(backoff / 2)
                try? await Task.sleep(until: min(ContinuousClock.now + pause, request.deadline), clock: .continuous)
                backoff = min(backoff * 2, .seconds(5))
            }
            posts += 1
            let exchange = await self.exchange(
                .POST, url: endpoint.absoluteString, token: token, key: request.idempotencyKey, body: body,
                deadline: request.deadline)
            switch exchange {
            case .notSent(let why):
                lastProblem = why
                logger.notice("provider not reached; retrying", metadata: ["error": "\(why)"])
            case .noAnswer(let why):
                mayHaveReached = true
                lastProblem = why
                logger.notice("no answer from the provider; retrying with the same key", metadata: ["error": "\(why)"])
            case .response(let status, let headers, let bytes):
                switch status {
                case 200..<300:
                    guard let object = ProviderJSON.decodeObject(bytes) else {
                        return .unknown(
                            "the provider accepted the call (HTTP \(status)) with a body that is not a JSON object",
                            ["httpStatus": .int(Int64(status)), "body": .string(ProviderJSON.snippet(bytes))])
                    }
                    accepted = (headers, object)
                case 409, 429, 500...599:
                    // 409: the same key is still being processed; 5xx may follow a partial success.
                    if status != 429 && status != 503 { mayHaveReached = true }
                    lastProblem = "HTTP \(status)"
                    logger.notice("provider refused for now; retrying with the same key", metadata: ["http.status": "\(status)"])
                default:
                    let detail: [String: JSONValue] = [
                        "httpStatus": .int(Int64(status)), "body": .string(ProviderJSON.snippet(bytes)),
                    ]
                    return mayHaveReached
                        ? .unknown("the provider refused the call with HTTP \(status) after an unanswered attempt", detail)
                        : .notPlaced("the provider refused the call with HTTP \(status)", detail)
                }
            }
        }

        // 2. Accepted: follow the call, never create it again.
        guard let (headers, created) = accepted else { return .unknown("unreachable") }
        guard let callId = ProviderJSON.id(created["id"]) else {
            return .unknown("the provider accepted the call without an id", ["body": .object(created)])
        }
        logger.debug("provider accepted the call", metadata: ["provider.call": "\(callId)"])
        var lastStatus = created["status"]
        if let placed = self.finished(created, callId: callId) { return placed }
        let statusURL = Self.statusURL(
            created: created, location: headers.first(name: "location"), endpoint: endpoint, callId: callId)
        var polls = 0
        while true {
            let next = ContinuousClock.now + self.configuration.pollInterval
            if next >= request.deadline || Task.isCancelled { break }
            try? await Task.sleep(until: next, clock: .continuous)
            polls += 1
            switch await self.exchange(
                .GET, url: statusURL, token: token, key: request.idempotencyKey, body: nil, deadline: request.deadline)
            {
            case .response(let status, _, let bytes) where (200..<300).contains(status):
                guard let object = ProviderJSON.decodeObject(bytes) else {
                    logger.warning("status answer is not a JSON object", metadata: ["body": "\(ProviderJSON.snippet(bytes))"])
                    continue
                }
                if object["status"] != nil { lastStatus = object["status"] }
                if let placed = self.finished(object, callId: callId) { return placed }
            case .response(let status, _, _):
                logger.warning("status poll refused", metadata: ["http.status": "\(status)"])
            case .notSent(let why), .noAnswer(let why):
                logger.warning("status poll failed", metadata: ["error": "\(why)"])
            }
        }
        var detail: [String: JSONValue] = ["polls": .int(Int64(polls))]
        if let lastStatus { detail["lastStatus"] = lastStatus }
        return .unknown("the call had not ended at its hard limit", providerCallId: callId, detail)
    }

    /// The placed call when a status document says the call is over.
    func finished(_ object: [String: JSONValue], callId: String) -> PlacedCall? {
        guard case .string(let status)? = object["status"] else { return nil }
        guard case .final(let outcome) = self.configuration.statusMap.meaning(of: status) else {
            if !self.configuration.statusMap.knows(status) {
                self.logger.notice("unknown provider status, still following the call", metadata: ["status": "\(status)"])
            }
            return nil
        }
        var detail: [String: JSONValue] = ["providerStatus": .string(status)]
        if let extra = object["detail"] { detail["provider"] = extra }
        let durationMs = ProviderJSON.int(object["durationMs"]) ?? ProviderJSON.int(object["duration"]).map { $0 * 1000 }
        return PlacedCall(outcome: outcome, providerCallId: callId, durationMs: durationMs, detail: .object(detail))
    }

    static func statusURL(created: [String: JSONValue], location: String?, endpoint: URL, callId: String) -> String {
        if case .string(let s)? = created["statusUrl"], let url = URL(string: s, relativeTo: endpoint) {
            return url.absoluteString
        }
        if let location, let url = URL(string: location, relativeTo: endpoint) { return url.absoluteString }
        let escaped = callId.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? callId
        return endpoint.absoluteString.hasSuffix("/") ? endpoint.absoluteString + escaped : endpoint.absoluteString + "/" + escaped
    }

    private func exchange(
        _ method: HTTPMethod, url: String, token: String?, key: String, body: [UInt8]?, deadline: ContinuousClock.Instant
    ) async -> Exchange {
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
        let left = deadline - ContinuousClock.now
        guard left > .zero else { return .notSent("the call's hard limit was reached") }
        let timeout = min(self.configuration.requestTimeout, left)
        do {
            let response = try await self.client.execute(
                request, timeout: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000
                    + timeout.components.attoseconds / 1_000_000_000))
            let bytes = try await response.body.collect(upTo: self.configuration.maximumBodyBytes)
            return .response(status: Int(response.status.code), headers: response.headers, body: Array(buffer: bytes))
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

    static func jitter(_ upTo: Duration) -> Duration {
        let ms = Int(upTo.components.seconds * 1000 + upTo.components.attoseconds / 1_000_000_000_000_000)
        return .milliseconds(Int.random(in: 0...max(0, ms)))
    }
}
