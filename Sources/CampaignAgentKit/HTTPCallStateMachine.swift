import CampaignCore
import CampaignProtocol
import Foundation

/// Every decision of one call through the `http` placer (``HTTPPlacer``), and no I/O: when to
/// `POST` (and how long to back off before a retry), what an answer to a `POST` or to a status
/// poll means, when to give up, and which ``PlacedCall`` the call ends with. It never sends,
/// sleeps, logs or reads the clock: time comes in as `now` with each event, the retry jitter is
/// injected, and the placer performs the returned actions and feeds their results back.
///
/// `initial` → `creating` (`POST`s under one idempotency key until the provider accepts the
/// call) → `following` (status polls until a final status or the call's hard limit) → `done`.
///
/// An event the current state does not expect (a poll's answer while creating, anything after
/// the call is done) can only be a bug in the placer, never something a provider does: it is a
/// precondition failure, as in swift-nio's `ProtocolNegotiationHandlerStateMachine`, not a
/// rejection to handle.
struct HTTPCallStateMachine: Sendable {
    /// What one HTTP exchange gave, as the placer reports it.
    enum Exchange: Sendable, Equatable {
        /// An answer: its status, its `Location` header and (up to the limit) its body.
        case response(status: Int, location: String?, body: [UInt8])
        /// Nothing reached the provider (connecting failed, or no time was left to send).
        case notSent(String)
        /// The request may have reached the provider; no answer came back.
        case noAnswer(String)
    }

    /// A line for the placer's log; the machine says what happened, the placer words it.
    enum Note: Sendable, Equatable {
        /// A `POST` reached nobody; it is retried.
        case postNotSent(String)
        /// A `POST` got no answer (it may have reached the provider); it is retried.
        case postUnanswered(String)
        /// `409`, `429` or `5xx` to a `POST`; it is retried.
        case postRefusedForNow(status: Int)
        /// The provider accepted the call under this id.
        case accepted(callId: String)
        /// A status the status map does not know; the call is still followed.
        case unknownStatus(String)
        /// A `2xx` status answer whose body (this snippet) is not a JSON object.
        case statusNotObject(body: String)
        /// A status poll answered with a status other than `2xx`.
        case pollRefused(status: Int)
        /// A status poll that got no answer.
        case pollFailed(String)
    }

    /// What the placer does next, and what it logs first.
    struct Action: Sendable, Equatable {
        enum Next: Sendable, Equatable {
            /// Send the `POST` now.
            case post
            /// Sleep until the instant (the retry backoff, never past the deadline), then `POST`.
            case sleepThenPost(until: ContinuousClock.Instant)
            /// Sleep until the instant, then `GET` the status URL.
            case poll(url: String, at: ContinuousClock.Instant)
            /// The call is over: the placer returns this.
            case finish(PlacedCall)
        }

        var next: Next
        /// To log, in order, before doing `next`.
        var notes: [Note]

        init(_ next: Next, notes: [Note] = []) {
            self.next = next
            self.notes = notes
        }
    }

    enum State: Sendable, Equatable {
        case initial
        case creating(Creating)
        case following(Following)
        case done
    }

    struct Creating: Sendable, Equatable {
        /// `POST`s that have come back (answered or not).
        var posts: Int
        /// The pause before the next retry is half of it plus a jitter of up to the other half.
        var backoff: Duration
        /// True once a `POST` may have reached the provider (no answer, `409`, a `5xx` but `503`):
        /// giving up then leaves the outcome unknown.
        var mayHaveReached: Bool
        /// What went wrong with the last `POST`, for the detail when giving up.
        var lastProblem: String
    }

    struct Following: Sendable, Equatable {
        var callId: String
        var statusURL: String
        /// Status polls that have come back (answered or not).
        var polls: Int
        /// The provider's last `status` (of the acceptance or a poll), for the detail at the limit.
        var lastStatus: JSONValue?
    }

    /// What a status document says about the call.
    enum CallStatus: Sendable, Equatable {
        /// No final status (no status, a non-string one, or one the map says is in progress).
        case ongoing
        /// A status the map does not know: still followed, and worth a log line.
        case unknown(String)
        /// A final status: the call is over.
        case ended(PlacedCall)
    }

    /// The longest pause between two `POST`s (before the jitter).
    static let maximumBackoff = Duration.seconds(5)

    let configuration: HTTPPlacer.Configuration
    let endpoint: URL
    /// The call's hard limit.
    let deadline: ContinuousClock.Instant
    /// A random duration from zero up to the one given (the placer uses ``randomJitter(upTo:)``).
    let jitter: @Sendable (Duration) -> Duration
    private(set) var state: State = .initial

    init(
        configuration: HTTPPlacer.Configuration, endpoint: URL, deadline: ContinuousClock.Instant,
        jitter: @escaping @Sendable (Duration) -> Duration = HTTPCallStateMachine.randomJitter(upTo:)
    ) {
        self.configuration = configuration
        self.endpoint = endpoint
        self.deadline = deadline
        self.jitter = jitter
    }

    /// The call begins: the first `POST`, unless there is no time (or no `POST`) allowed at all.
    mutating func start(now: ContinuousClock.Instant) -> Action {
        guard case .initial = self.state else { preconditionFailure("start() in state \(self.state)") }
        let creating = Creating(
            posts: 0, backoff: self.configuration.retryBackoff, mayHaveReached: false, lastProblem: "")
        return self.nextPost(creating, now: now)
    }

    /// The call was accepted before the agent restarted (its id and status URL were spooled): it
    /// is followed from its first poll, now, and no `POST` is ever sent for it.
    mutating func resume(callId: String, statusURL: String, now: ContinuousClock.Instant) -> Action {
        guard case .initial = self.state else { preconditionFailure("resume(callId:statusURL:now:) in state \(self.state)") }
        let following = Following(callId: callId, statusURL: statusURL, polls: 0, lastStatus: nil)
        guard now < self.deadline else { return self.finish(Self.notEnded(following)) }
        self.state = .following(following)
        return Action(.poll(url: statusURL, at: now))
    }

    /// The call being followed, once the provider accepted it (nil before, and once it is done).
    var acceptedCall: AcceptedCall? {
        guard case .following(let f) = self.state else { return nil }
        return AcceptedCall(providerCallId: f.callId, statusURL: f.statusURL)
    }

    /// A `POST` came back (`now`: when). A `2xx` is the acceptance; `409`, `429`, `5xx` and
    /// transport errors are retried under the same key; any other status means no call.
    mutating func postCompleted(_ exchange: Exchange, now: ContinuousClock.Instant) -> Action {
        guard case .creating(var creating) = self.state else {
            preconditionFailure("postCompleted(_:now:) in state \(self.state)")
        }
        creating.posts += 1
        switch exchange {
        case .notSent(let why):
            creating.lastProblem = why
            return self.nextPost(creating, now: now, notes: [.postNotSent(why)])
        case .noAnswer(let why):
            creating.mayHaveReached = true
            creating.lastProblem = why
            return self.nextPost(creating, now: now, notes: [.postUnanswered(why)])
        case .response(let status, let location, let body):
            switch status {
            case 200..<300:
                return self.accepted(status: status, location: location, body: body, now: now)
            case 409, 429, 500...599:
                // 409: the same key is still being processed; 5xx may follow a partial success.
                if status != 429 && status != 503 { creating.mayHaveReached = true }
                creating.lastProblem = "HTTP \(status)"
                return self.nextPost(creating, now: now, notes: [.postRefusedForNow(status: status)])
            default:
                let detail: [String: JSONValue] = [
                    "httpStatus": .int(Int64(status)), "body": .string(ProviderJSON.snippet(body)),
                ]
                return self.finish(
                    creating.mayHaveReached
                        ? .unknown(
                            "the provider refused the call with HTTP \(status) after an unanswered attempt", detail)
                        : .notPlaced("the provider refused the call with HTTP \(status)", detail))
            }
        }
    }

    /// A status poll came back (`now`: when). A final status ends the call; anything else (an
    /// unknown status, a body that is not an object, an error) keeps following it.
    mutating func pollCompleted(_ exchange: Exchange, now: ContinuousClock.Instant) -> Action {
        guard case .following(var following) = self.state else {
            preconditionFailure("pollCompleted(_:now:) in state \(self.state)")
        }
        following.polls += 1
        switch exchange {
        case .response(let status, _, let body) where (200..<300).contains(status):
            guard let object = ProviderJSON.decodeObject(body) else {
                return self.nextPoll(following, now: now, notes: [.statusNotObject(body: ProviderJSON.snippet(body))])
            }
            if object["status"] != nil { following.lastStatus = object["status"] }
            switch Self.status(of: object, callId: following.callId, statusMap: self.configuration.statusMap) {
            case .ended(let placed):
                return self.finish(placed)
            case .unknown(let status):
                return self.nextPoll(following, now: now, notes: [.unknownStatus(status)])
            case .ongoing:
                return self.nextPoll(following, now: now)
            }
        case .response(let status, _, _):
            return self.nextPoll(following, now: now, notes: [.pollRefused(status: status)])
        case .notSent(let why), .noAnswer(let why):
            return self.nextPoll(following, now: now, notes: [.pollFailed(why)])
        }
    }

    /// The placer's task was cancelled before its next `POST` or poll: the call ends with what
    /// is known, exactly as at the deadline.
    mutating func taskCancelled() -> Action {
        switch self.state {
        case .creating(let creating):
            return self.finish(Self.unconfirmed(creating))
        case .following(let following):
            return self.finish(Self.notEnded(following))
        case .initial, .done:
            preconditionFailure("taskCancelled() in state \(self.state)")
        }
    }

    // MARK: Transitions

    /// After a `POST` (or at the start): another one, or give up when `POST`s or time ran out.
    private mutating func nextPost(_ creating: Creating, now: ContinuousClock.Instant, notes: [Note] = []) -> Action {
        var creating = creating
        if creating.posts >= self.configuration.maximumPosts || now >= self.deadline {
            return self.finish(Self.unconfirmed(creating), notes: notes)
        }
        guard creating.posts > 0 else {
            self.state = .creating(creating)
            return Action(.post, notes: notes)
        }
        let pause = creating.backoff / 2 + self.jitter(creating.backoff / 2)
        creating.backoff = min(creating.backoff * 2, Self.maximumBackoff)
        self.state = .creating(creating)
        return Action(.sleepThenPost(until: min(now + pause, self.deadline)), notes: notes)
    }

    /// A `2xx` to a `POST`: from here on no `POST` is ever sent again for the key.
    private mutating func accepted(status: Int, location: String?, body: [UInt8], now: ContinuousClock.Instant)
        -> Action
    {
        guard let created = ProviderJSON.decodeObject(body) else {
            return self.finish(
                .unknown(
                    "the provider accepted the call (HTTP \(status)) with a body that is not a JSON object",
                    ["httpStatus": .int(Int64(status)), "body": .string(ProviderJSON.snippet(body))]))
        }
        guard let callId = ProviderJSON.id(created["id"]) else {
            return self.finish(.unknown("the provider accepted the call without an id", ["body": .object(created)]))
        }
        var notes: [Note] = [.accepted(callId: callId)]
        switch Self.status(of: created, callId: callId, statusMap: self.configuration.statusMap) {
        case .ended(let placed):
            return self.finish(placed, notes: notes)
        case .unknown(let status):
            notes.append(.unknownStatus(status))
        case .ongoing:
            break
        }
        let following = Following(
            callId: callId,
            statusURL: Self.statusURL(created: created, location: location, endpoint: self.endpoint, callId: callId),
            polls: 0, lastStatus: created["status"])
        return self.nextPoll(following, now: now, notes: notes)
    }

    /// Another poll after the interval, unless that would be at or past the deadline.
    private mutating func nextPoll(_ following: Following, now: ContinuousClock.Instant, notes: [Note] = []) -> Action {
        let next = now + self.configuration.pollInterval
        if next >= self.deadline { return self.finish(Self.notEnded(following), notes: notes) }
        self.state = .following(following)
        return Action(.poll(url: following.statusURL, at: next), notes: notes)
    }

    private mutating func finish(_ placed: PlacedCall, notes: [Note] = []) -> Action {
        self.state = .done
        return Action(.finish(placed), notes: notes)
    }

    // MARK: Pure helpers

    /// Giving up before an acceptance: unknown if a `POST` may have reached the provider.
    static func unconfirmed(_ creating: Creating) -> PlacedCall {
        let detail: [String: JSONValue] = [
            "posts": .int(Int64(creating.posts)), "lastProblem": .string(creating.lastProblem),
        ]
        return creating.mayHaveReached
            ? .unknown("the provider did not confirm the call (\(creating.lastProblem))", detail)
            : .notPlaced("the provider could not be reached (\(creating.lastProblem))", detail)
    }

    /// Giving up on an accepted call that has not ended: unknown, with what was last heard of it.
    static func notEnded(_ following: Following) -> PlacedCall {
        var detail: [String: JSONValue] = ["polls": .int(Int64(following.polls))]
        if let lastStatus = following.lastStatus { detail["lastStatus"] = lastStatus }
        return .unknown("the call had not ended at its hard limit", providerCallId: following.callId, detail)
    }

    /// What a status document (the acceptance or a poll's answer) says about the call.
    static func status(of object: [String: JSONValue], callId: String, statusMap: ProviderStatusMap) -> CallStatus {
        guard case .string(let status)? = object["status"] else { return .ongoing }
        guard case .final(let outcome, let statusSaysOptOut) = statusMap.meaning(of: status) else {
            return statusMap.knows(status) ? .ongoing : .unknown(status)
        }
        var detail: [String: JSONValue] = ["providerStatus": .string(status)]
        if let extra = object["detail"] { detail["provider"] = extra }
        let durationMs =
            ProviderJSON.int(object["durationMs"]) ?? ProviderJSON.int(object["duration"]).map { $0 * 1000 }
        var placed = PlacedCall(outcome: outcome, providerCallId: callId, durationMs: durationMs, detail: .object(detail))
        // The person asked not to be called again: said by the status, or by `optOut: true`.
        placed.optOut = statusSaysOptOut || object["optOut"] == .bool(true)
        return .ended(placed)
    }

    /// Where the call is followed: the acceptance's `statusUrl`, else its `Location` header, else
    /// `<endpoint>/<id>` (the id percent-encoded as one path segment).
    static func statusURL(created: [String: JSONValue], location: String?, endpoint: URL, callId: String) -> String {
        if case .string(let s)? = created["statusUrl"], let url = URL(string: s, relativeTo: endpoint) {
            return url.absoluteString
        }
        if let location, let url = URL(string: location, relativeTo: endpoint) { return url.absoluteString }
        let escaped = callId.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? callId
        return endpoint.absoluteString.hasSuffix("/")
            ? endpoint.absoluteString + escaped : endpoint.absoluteString + "/" + escaped
    }

    /// What one lookup's answer (`GET` by the call's id or by its key, issue 16) says: a final
    /// status is the call's end; `404` is the provider's word that it has no such call; anything
    /// else (a status still in progress, another error, no answer) leaves it unknown for now.
    static func lookupAnswer(
        _ exchange: Exchange, url: String, callId: String?, statusMap: ProviderStatusMap
    ) -> LookupAnswer {
        switch exchange {
        case .response(let status, _, let body) where (200..<300).contains(status):
            guard let object = ProviderJSON.decodeObject(body) else {
                return .unknown("the lookup's answer is not a JSON object: \(ProviderJSON.snippet(body, limit: 100))")
            }
            guard let id = callId ?? ProviderJSON.id(object["id"]) else {
                return .unknown("the lookup's answer names no call id")
            }
            switch Self.status(of: object, callId: id, statusMap: statusMap) {
            case .ended(let placed): return .ended(placed)
            case .unknown(let s): return .unknown("the provider's status \(s) is not in the status map")
            case .ongoing:
                if case .string(let s)? = object["status"] { return .unknown("the call is still \(s)") }
                return .unknown("the lookup's answer has no status")
            }
        case .response(404, _, _):
            return .notPlaced("the provider has no such call (HTTP 404 from GET \(url))")
        case .response(let status, _, _):
            return .unknown("the lookup was answered HTTP \(status)")
        case .notSent(let why), .noAnswer(let why):
            return .unknown("the lookup failed: \(why)")
        }
    }

    /// A random duration from zero up to `upTo`, in whole milliseconds.
    static func randomJitter(upTo: Duration) -> Duration {
        let ms = Int(upTo.components.seconds * 1000 + upTo.components.attoseconds / 1_000_000_000_000_000)
        return .milliseconds(Int.random(in: 0...max(0, ms)))
    }
}
