import CampaignCore
import CampaignProtocol
import Foundation
import Testing

@testable import CampaignAgentKit

/// Following an accepted call, and the status URL.
///
/// Events a state does not allow are precondition failures and have no test here: an exit test
/// (`#expect(processExitsWith:)`) spawns a copy of the test process that inherits its open
/// descriptors, and that copy holding `FakeProvider.ReservedPort`'s socket made the HTTP placer's
/// "connection refused until the provider comes up" test fail to bind its port (3 runs of 4).
extension HTTPCallStateMachineTests {
    static let callURL = "https://provider.example/v1/calls/c-1"

    /// A machine that has just accepted call `c-1` (status `queued`, no status URL) at `now`.
    static func following(
        deadline: Int = 60_000, statusMap: ProviderStatusMap = .default, acceptedAt now: Int = 0
    ) -> Machine {
        var m = Self.machine(deadline: deadline, statusMap: statusMap)
        _ = m.start(now: Self.at(now))
        _ = m.postCompleted(Self.answer(201, #"{"id":"c-1","status":"queued"}"#), now: Self.at(now))
        return m
    }

    static func state(polls: Int, lastStatus: JSONValue?) -> Machine.State {
        .following(.init(callId: "c-1", statusURL: Self.callURL, polls: polls, lastStatus: lastStatus))
    }

    // MARK: Polls

    @Test("polls in progress: counted, each one interval after the last came back, the last status kept")
    func pollsInProgress() {
        var m = Self.following()
        #expect(m.state == Self.state(polls: 0, lastStatus: "queued"))
        #expect(
            m.pollCompleted(Self.answer(200, #"{"status":"ringing"}"#), now: Self.at(2050))
                == Action(.poll(url: Self.callURL, at: Self.at(4050))))
        #expect(m.state == Self.state(polls: 1, lastStatus: "ringing"))
        #expect(
            m.pollCompleted(Self.answer(200, #"{"status":"in-progress"}"#), now: Self.at(4100))
                == Action(.poll(url: Self.callURL, at: Self.at(6100))))
        #expect(m.state == Self.state(polls: 2, lastStatus: "in-progress"))
    }

    @Test("the last status heard is kept: a poll without one leaves it, any other status replaces it")
    func lastStatusKept() {
        var m = Self.following()
        #expect(
            m.pollCompleted(Self.answer(200, "{}"), now: Self.at(2000))
                == Action(.poll(url: Self.callURL, at: Self.at(4000))))
        #expect(m.state == Self.state(polls: 1, lastStatus: "queued"))
        #expect(
            m.pollCompleted(Self.answer(200, "<html>"), now: Self.at(4000))
                == Action(.poll(url: Self.callURL, at: Self.at(6000)), notes: [.statusNotObject(body: "<html>")]))
        #expect(m.state == Self.state(polls: 2, lastStatus: "queued"))
        // A status that is not a string is kept (it is what was last heard) but ends nothing.
        #expect(
            m.pollCompleted(Self.answer(200, #"{"status":5}"#), now: Self.at(6000))
                == Action(.poll(url: Self.callURL, at: Self.at(8000))))
        #expect(m.state == Self.state(polls: 3, lastStatus: 5))
    }

    @Test("a status the map does not know: noted on every poll, still followed; a known in-progress one is not noted")
    func unknownStatusKeepsFollowing() {
        var m = Self.following()
        let unknown = Action(.poll(url: Self.callURL, at: Self.at(4000)), notes: [.unknownStatus("warming-up")])
        #expect(m.pollCompleted(Self.answer(200, #"{"status":"warming-up"}"#), now: Self.at(2000)) == unknown)
        #expect(m.state == Self.state(polls: 1, lastStatus: "warming-up"))

        var custom = ProviderStatusMap.default
        custom.set("warming-up", .inProgress)
        var known = Self.following(statusMap: custom)
        #expect(
            known.pollCompleted(Self.answer(200, #"{"status":"Warming_Up"}"#), now: Self.at(2000))
                == Action(.poll(url: Self.callURL, at: Self.at(4000))))
    }

    static let finals: [(String, CallOutcome)] = [
        ("completed", .answered), ("ANSWERED", .answered), ("no-answer", .noAnswer), ("NO_ANSWER", .noAnswer),
        ("busy", .busy), ("voicemail", .voicemail), ("machine", .voicemail), ("canceled", .rejected),
        ("cancelled", .rejected), ("declined", .rejected), ("rejected", .rejected), ("failed", .failed),
    ]

    @Test("a final status ends the call with its outcome; the provider's status kept as it came", arguments: finals)
    func finalStatus(status: String, outcome: CallOutcome) {
        var m = Self.following()
        let ended = PlacedCall(outcome: outcome, providerCallId: "c-1", detail: ["providerStatus": .string(status)])
        let answer = Self.answer(200, #"{"status":"\#(status)"}"#)
        #expect(m.pollCompleted(answer, now: Self.at(2000)) == Action(.finish(ended)))
        #expect(m.state == .done)
    }

    @Test(
        "the duration: durationMs, else duration in seconds × 1000, else none",
        arguments: [
            (#""durationMs":1234"#, 1234), (#""duration":12"#, 12_000), (#""duration":12.7"#, 12_000),
            (#""durationMs":1234,"duration":99"#, 1234), (#""durationMs":-5,"duration":3"#, 3000),
            (#""durationMs":"12""#, nil), (#""duration":-1"#, nil), (#""other":1"#, nil),
        ] as [(String, Int?)])
    func duration(fields: String, durationMs: Int?) {
        var m = Self.following()
        let ended = PlacedCall(
            outcome: .busy, providerCallId: "c-1", durationMs: durationMs,
            detail: ["providerStatus": "busy", "provider": ["why": "line busy"]])
        let body = #"{"status":"busy","detail":{"why":"line busy"},"# + fields + "}"
        #expect(m.pollCompleted(Self.answer(200, body), now: Self.at(2000)) == Action(.finish(ended)))
    }

    @Test(
        "a failed poll keeps following: another status refused, not sent, no answer",
        arguments: [
            (
                HTTPCallStateMachineTests.answer(404, #"{"status":"completed"}"#),
                HTTPCallStateMachine.Note.pollRefused(status: 404)
            ),
            (HTTPCallStateMachineTests.answer(500), .pollRefused(status: 500)),
            (HTTPCallStateMachineTests.answer(302), .pollRefused(status: 302)),
            (.notSent("connection refused"), .pollFailed("connection refused")),
            (.noAnswer("read timeout"), .pollFailed("read timeout")),
        ])
    func failedPoll(exchange: Exchange, note: HTTPCallStateMachine.Note) {
        var m = Self.following()
        #expect(
            m.pollCompleted(exchange, now: Self.at(2000))
                == Action(.poll(url: Self.callURL, at: Self.at(4000)), notes: [note]))
        #expect(m.state == Self.state(polls: 1, lastStatus: "queued"))
    }

    // MARK: The deadline

    @Test("the next poll would be at or past the deadline: unknown, with the call id, the polls and the last status")
    func deadlineWhileFollowing() {
        var m = Self.following(deadline: 5000)
        #expect(
            m.pollCompleted(Self.answer(200, #"{"status":"ringing"}"#), now: Self.at(2500))
                == Action(.poll(url: Self.callURL, at: Self.at(4500))))
        let expected = Self.unknown(
            "the call had not ended at its hard limit", callId: "c-1", ["polls": 2, "lastStatus": "ringing"])
        #expect(
            m.pollCompleted(.noAnswer("read timeout"), now: Self.at(3000))
                == Action(.finish(expected), notes: [.pollFailed("read timeout")]))
        #expect(m.state == .done)
    }

    @Test("accepted too close to the deadline for one poll: unknown at once")
    func acceptedAtDeadline() {
        var m = Self.machine(deadline: 5000)
        _ = m.start(now: Self.at(0))
        let expected = Self.unknown(
            "the call had not ended at its hard limit", callId: "c-1", ["polls": 0, "lastStatus": "queued"])
        #expect(
            m.postCompleted(Self.answer(201, #"{"id":"c-1","status":"queued"}"#), now: Self.at(3000))
                == Action(.finish(expected), notes: [.accepted(callId: "c-1")]))

        var early = Self.machine(deadline: 5000)
        _ = early.start(now: Self.at(0))
        #expect(
            early.postCompleted(Self.answer(201, #"{"id":"c-1"}"#), now: Self.at(2999))
                == Action(.poll(url: Self.callURL, at: Self.at(4999)), notes: [.accepted(callId: "c-1")]))
    }

    @Test("no status ever heard: no lastStatus in the detail")
    func noStatusHeard() {
        var m = Self.machine(deadline: 5000)
        _ = m.start(now: Self.at(0))
        _ = m.postCompleted(Self.answer(201, #"{"id":"c-1"}"#), now: Self.at(0))
        let expected = Self.unknown("the call had not ended at its hard limit", callId: "c-1", ["polls": 1])
        #expect(m.pollCompleted(Self.answer(200, "{}"), now: Self.at(3000)) == Action(.finish(expected)))
    }

    @Test("cancelled while following: unknown, with the call id, the polls and the last status")
    func cancelledWhileFollowing() {
        var m = Self.following()
        _ = m.pollCompleted(Self.answer(200, #"{"status":"ringing"}"#), now: Self.at(2000))
        let expected = Self.unknown(
            "the call had not ended at its hard limit", callId: "c-1", ["polls": 1, "lastStatus": "ringing"])
        #expect(m.taskCancelled() == Action(.finish(expected)))
        #expect(m.state == .done)
    }

    // MARK: The status URL

    @Test(
        "the status URL: statusUrl (resolved against the endpoint), else Location, else <endpoint>/<id> escaped",
        arguments: [
            (
                #"{"statusUrl":"https://status.example/c-1"}"#, "/ignored", "https://provider.example/v1/calls", "c-1",
                "https://status.example/c-1"
            ),
            (
                #"{"statusUrl":"/v2/status/c-1"}"#, nil, "https://provider.example/v1/calls", "c-1",
                "https://provider.example/v2/status/c-1"
            ),
            (
                #"{"statusUrl":5}"#, "https://provider.example/v1/calls/c-1/state", "https://provider.example/v1/calls",
                "c-1", "https://provider.example/v1/calls/c-1/state"
            ),
            ("{}", "c-1/state", "https://provider.example/v1/calls", "c-1", "https://provider.example/v1/c-1/state"),
            ("{}", nil, "https://provider.example/v1/calls", "c-1", "https://provider.example/v1/calls/c-1"),
            ("{}", nil, "https://provider.example/v1/calls/", "c-1", "https://provider.example/v1/calls/c-1"),
            (
                "{}", nil, "https://provider.example/v1/calls", "a b/c?d#e%",
                "https://provider.example/v1/calls/a%20b%2Fc%3Fd%23e%25"
            ),
        ] as [(String, String?, String, String, String)])
    func statusURL(created: String, location: String?, endpoint: String, callId: String, expected: String) throws {
        let url = Machine.statusURL(
            created: try Self.object(created), location: location, endpoint: try #require(URL(string: endpoint)),
            callId: callId)
        #expect(url == expected)
    }
}
