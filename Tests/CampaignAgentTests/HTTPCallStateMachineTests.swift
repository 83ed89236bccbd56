import CampaignCore
import CampaignProtocol
import Foundation
import Testing

@testable import CampaignAgentKit

/// The `http` placer's decisions, one event at a time, with an explicit `now` and an injected
/// jitter: the answers to a `POST` (this file), giving up and backing off
/// (`+Retries.swift`), following the call and the status URL (`+Following.swift`). Expected
/// results are spelled out in full, so a changed message or detail key fails here before an
/// operator notices.
@Suite("HTTP call state machine")
struct HTTPCallStateMachineTests {
    typealias Machine = HTTPCallStateMachine
    typealias Action = HTTPCallStateMachine.Action
    typealias Exchange = HTTPCallStateMachine.Exchange

    static let endpoint = URL(string: "https://provider.example/v1/calls")!
    static let t0 = ContinuousClock.now

    /// `ms` milliseconds after `t0`.
    static func at(_ ms: Int) -> ContinuousClock.Instant { Self.t0 + .milliseconds(ms) }

    /// A machine whose deadline is `deadline` ms after `t0`; the jitter is the whole amount it
    /// may be, so each pause is the full backoff.
    static func machine(
        maximumPosts: Int = 6, retryBackoff: Duration = .milliseconds(400), pollInterval: Duration = .seconds(2),
        deadline: Int = 60_000, statusMap: ProviderStatusMap = .default,
        jitter: @escaping @Sendable (Duration) -> Duration = { $0 }
    ) -> Machine {
        let configuration = HTTPPlacer.Configuration(
            endpoint: Self.endpoint.absoluteString, pollInterval: pollInterval, maximumPosts: maximumPosts,
            retryBackoff: retryBackoff, statusMap: statusMap)
        return Machine(
            configuration: configuration, endpoint: Self.endpoint, deadline: Self.at(deadline), jitter: jitter)
    }

    static func answer(_ status: Int, _ body: String = "", location: String? = nil) -> Exchange {
        .response(status: status, location: location, body: Array(body.utf8))
    }

    static func object(_ json: String) throws -> [String: JSONValue] {
        guard case .object(let o) = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)) else {
            throw ConfigurationError("not an object: \(json)")
        }
        return o
    }

    /// `PlacedCall.notPlaced`, spelled out: no call, outcome FAILED, the error in the detail.
    static func notPlaced(_ error: String, _ detail: [String: JSONValue]) -> PlacedCall {
        var detail = detail
        detail["error"] = .string(error)
        return PlacedCall(outcome: .failed, detail: .object(detail), callPlaced: false)
    }

    /// `PlacedCall.unknown`, spelled out: maybe a call, outcome FAILED and not known.
    static func unknown(_ error: String, callId: String? = nil, _ detail: [String: JSONValue]) -> PlacedCall {
        var detail = detail
        detail["error"] = .string(error)
        detail["outcomeKnown"] = false
        return PlacedCall(outcome: .failed, providerCallId: callId, detail: .object(detail), outcomeKnown: false)
    }

    static func creating(_ posts: Int, backoff ms: Int, reached: Bool, _ problem: String) -> Machine.State {
        .creating(.init(posts: posts, backoff: .milliseconds(ms), mayHaveReached: reached, lastProblem: problem))
    }

    // MARK: Start

    @Test("start: the first POST at once, nothing tried yet")
    func start() {
        var m = Self.machine()
        #expect(m.state == .initial)
        #expect(m.start(now: Self.at(0)) == Action(.post))
        #expect(m.state == Self.creating(0, backoff: 400, reached: false, ""))
    }

    @Test("start at or past the deadline, or with no POST allowed: no call, nothing sent")
    func startTooLate() {
        let none = Action(
            .finish(Self.notPlaced("the provider could not be reached ()", ["posts": 0, "lastProblem": ""])))
        var atDeadline = Self.machine(deadline: 1000)
        #expect(atDeadline.start(now: Self.at(1000)) == none)
        #expect(atDeadline.state == .done)
        var pastDeadline = Self.machine(deadline: 1000)
        #expect(pastDeadline.start(now: Self.at(1001)) == none)
        var noPosts = Self.machine(maximumPosts: 0)
        #expect(noPosts.start(now: Self.at(0)) == none)
        var justInTime = Self.machine(deadline: 1000)
        #expect(justInTime.start(now: Self.at(999)) == Action(.post))
    }

    // MARK: 2xx

    @Test(
        "2xx, the call in progress: followed at its statusUrl, first poll one interval later",
        arguments: [200, 201, 299])
    func acceptedInProgress(status: Int) {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        let body = #"{"id":"c-1","status":"queued","statusUrl":"https://provider.example/v1/calls/c-1/status"}"#
        #expect(
            m.postCompleted(Self.answer(status, body), now: Self.at(100))
                == Action(
                    .poll(url: "https://provider.example/v1/calls/c-1/status", at: Self.at(2100)),
                    notes: [.accepted(callId: "c-1")]))
        #expect(
            m.state
                == .following(
                    .init(
                        callId: "c-1", statusURL: "https://provider.example/v1/calls/c-1/status", polls: 0,
                        lastStatus: "queued")))
    }

    @Test("2xx that says the call already ended: done, no poll")
    func acceptedEnded() {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        let body = #"{"id":"c-1","status":"completed","durationMs":1234,"detail":{"leg":"a"}}"#
        let ended = PlacedCall(
            outcome: .answered, providerCallId: "c-1", durationMs: 1234,
            detail: ["providerStatus": "completed", "provider": ["leg": "a"]])
        #expect(
            m.postCompleted(Self.answer(201, body), now: Self.at(100))
                == Action(.finish(ended), notes: [.accepted(callId: "c-1")]))
        #expect(m.state == .done)
    }

    @Test("2xx with a status the map does not know: noted, and the call is followed")
    func acceptedUnknownStatus() {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        #expect(
            m.postCompleted(Self.answer(201, #"{"id":"c-1","status":"warming-up"}"#), now: Self.at(0))
                == Action(
                    .poll(url: "https://provider.example/v1/calls/c-1", at: Self.at(2000)),
                    notes: [.accepted(callId: "c-1"), .unknownStatus("warming-up")]))
        #expect(
            m.state
                == .following(
                    .init(
                        callId: "c-1", statusURL: "https://provider.example/v1/calls/c-1", polls: 0,
                        lastStatus: "warming-up")))
    }

    @Test("2xx with a numeric id and no status: that id, no last status, the Location header to follow")
    func acceptedNumericId() {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        let accepted = Self.answer(202, #"{"id":42}"#, location: "/v1/calls/42/state")
        #expect(
            m.postCompleted(accepted, now: Self.at(0))
                == Action(
                    .poll(url: "https://provider.example/v1/calls/42/state", at: Self.at(2000)),
                    notes: [.accepted(callId: "42")]))
        #expect(
            m.state
                == .following(
                    .init(
                        callId: "42", statusURL: "https://provider.example/v1/calls/42/state", polls: 0,
                        lastStatus: nil)))
    }

    @Test(
        "2xx whose body is not a JSON object: outcome unknown, never posted again",
        arguments: ["not json", "[1,2]", #""c-1""#, ""])
    func acceptedNotObject(body: String) {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        let expected = Self.unknown(
            "the provider accepted the call (HTTP 201) with a body that is not a JSON object",
            ["httpStatus": 201, "body": .string(body)])
        #expect(m.postCompleted(Self.answer(201, body), now: Self.at(0)) == Action(.finish(expected)))
        #expect(m.state == .done)
    }

    @Test("a long body in a detail is cut to 500 characters and an ellipsis")
    func longBodySnippet() {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        let expected = Self.unknown(
            "the provider accepted the call (HTTP 200) with a body that is not a JSON object",
            ["httpStatus": 200, "body": .string(String(repeating: "x", count: 500) + "…")])
        #expect(
            m.postCompleted(Self.answer(200, String(repeating: "x", count: 600)), now: Self.at(0))
                == Action(.finish(expected)))
    }

    @Test(
        "2xx without a usable id: outcome unknown, the body kept",
        arguments: [
            #"{"status":"queued"}"#, #"{"id":""}"#, #"{"id":null}"#, #"{"id":1.5}"#, #"{"id":["c-1"]}"#,
        ])
    func acceptedWithoutId(body: String) throws {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        let expected = Self.unknown(
            "the provider accepted the call without an id", ["body": .object(try Self.object(body))])
        #expect(m.postCompleted(Self.answer(201, body), now: Self.at(0)) == Action(.finish(expected)))
        #expect(m.state == .done)
    }

    // MARK: Retried answers

    @Test(
        "409 and 5xx but 503: retried under the same key; the call may have reached the provider",
        arguments: [409, 500, 502, 504, 599])
    func refusedForNowMaybeReached(status: Int) {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        #expect(
            m.postCompleted(Self.answer(status, "busy"), now: Self.at(100))
                == Action(.sleepThenPost(until: Self.at(500)), notes: [.postRefusedForNow(status: status)]))
        #expect(m.state == Self.creating(1, backoff: 800, reached: true, "HTTP \(status)"))
    }

    @Test("429 and 503: retried; nothing was placed", arguments: [429, 503])
    func refusedForNowNotReached(status: Int) {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        #expect(
            m.postCompleted(Self.answer(status), now: Self.at(100))
                == Action(.sleepThenPost(until: Self.at(500)), notes: [.postRefusedForNow(status: status)]))
        #expect(m.state == Self.creating(1, backoff: 800, reached: false, "HTTP \(status)"))
    }

    @Test("not sent: retried; nothing reached the provider")
    func notSent() {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        #expect(
            m.postCompleted(.notSent("connection refused"), now: Self.at(10))
                == Action(.sleepThenPost(until: Self.at(410)), notes: [.postNotSent("connection refused")]))
        #expect(m.state == Self.creating(1, backoff: 800, reached: false, "connection refused"))
    }

    @Test("no answer: retried under the same key; the call may have reached the provider")
    func noAnswer() {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        #expect(
            m.postCompleted(.noAnswer("read timeout"), now: Self.at(10))
                == Action(.sleepThenPost(until: Self.at(410)), notes: [.postUnanswered("read timeout")]))
        #expect(m.state == Self.creating(1, backoff: 800, reached: true, "read timeout"))
        // A later "not sent" does not take back what an unanswered POST may have done.
        _ = m.postCompleted(.notSent("connection refused"), now: Self.at(500))
        #expect(m.state == Self.creating(2, backoff: 1600, reached: true, "connection refused"))
    }

    // MARK: Refusals

    @Test(
        "another status, nothing having reached the provider: no call, status and body in the detail",
        arguments: [300, 400, 401, 403, 404, 422, 600])
    func refused(status: Int) {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        let expected = Self.notPlaced(
            "the provider refused the call with HTTP \(status)", ["httpStatus": .int(Int64(status)), "body": "nope"])
        #expect(m.postCompleted(Self.answer(status, "nope"), now: Self.at(0)) == Action(.finish(expected)))
        #expect(m.state == .done)
    }

    @Test(
        "a refusal after attempts that reached nobody (not sent, 429, 503): still no call",
        arguments: [
            Exchange.notSent("connection refused"), HTTPCallStateMachineTests.answer(429),
            HTTPCallStateMachineTests.answer(503),
        ])
    func refusedAfterHarmlessAttempt(first: Exchange) {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        _ = m.postCompleted(first, now: Self.at(0))
        let expected = Self.notPlaced("the provider refused the call with HTTP 422", ["httpStatus": 422, "body": "{}"])
        #expect(m.postCompleted(Self.answer(422, "{}"), now: Self.at(500)) == Action(.finish(expected)))
    }

    @Test(
        "a refusal after an attempt that may have reached the provider (no answer, 409, 5xx): outcome unknown",
        arguments: [
            Exchange.noAnswer("read timeout"), HTTPCallStateMachineTests.answer(409),
            HTTPCallStateMachineTests.answer(500),
        ])
    func refusedAfterUnansweredAttempt(first: Exchange) {
        var m = Self.machine()
        _ = m.start(now: Self.at(0))
        _ = m.postCompleted(first, now: Self.at(0))
        let expected = Self.unknown(
            "the provider refused the call with HTTP 422 after an unanswered attempt",
            ["httpStatus": 422, "body": "{}"])
        #expect(m.postCompleted(Self.answer(422, "{}"), now: Self.at(500)) == Action(.finish(expected)))
    }
}
