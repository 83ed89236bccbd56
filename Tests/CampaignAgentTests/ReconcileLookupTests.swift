import CampaignCore
import CampaignProtocol
import CampaignTestSupport
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import CampaignAgentKit

/// Settling unknown outcomes (issue 16) with real parts: the `http` machine resuming a call and
/// reading a lookup's answer; the `http` placer against the fake provider on loopback; the `exec`
/// lookup command as a real script; the spool of accepted calls; the report a lookup makes.
@Suite("Reconcile lookups")
struct ReconcileLookupTests {
    typealias Machine = HTTPCallStateMachine
    typealias Action = HTTPCallStateMachine.Action
    typealias M = HTTPCallStateMachineTests

    static let key = "q-1:2026-11-29#1"

    /// Job 7 of `HTTPPlacerTests.request()`, as `jobs.reconcile` hands it out.
    static func unknownCall(
        providerCallId: String? = "call-1", key: String = Self.key, provider: String? = "http", lookups: Int = 2
    ) -> UnknownCall {
        let job = HTTPPlacerTests.request().job
        return UnknownCall(
            jobId: job.jobId, queueJobId: job.queueJobId, leaseToken: job.leaseToken, attempt: job.attempt,
            maxAttempts: job.maxAttempts, reason: job.reason, customer: job.customer, idempotencyKey: key,
            providerCallId: providerCallId, provider: provider, lookups: lookups)
    }

    static func lookup(_ call: UnknownCall = Self.unknownCall(), within: Duration = .seconds(10)) -> LookupRequest {
        LookupRequest(call: call, deadline: .now + within)
    }

    /// How the fake provider's call-1 ended, as a lookup reports it.
    static let call1Ended = LookupAnswer.ended(
        PlacedCall(outcome: .answered, providerCallId: "call-1", durationMs: 1234, detail: ["providerStatus": "completed"]))

    /// The answer's case, for tests that do not spell out the whole answer.
    static func kind(_ answer: LookupAnswer) -> String {
        switch answer {
        case .ended: "ended"
        case .notPlaced: "notPlaced"
        case .unknown: "unknown"
        }
    }

    // MARK: 1. The machine: resuming, and a lookup's answer

    @Test("resume: the first poll at once and never a POST; a final status ends the call with the provider's id")
    func machineResume() {
        var m = M.machine(pollInterval: .seconds(2), deadline: 60_000)
        let url = "https://provider.example/v1/calls/c-7"
        #expect(m.resume(callId: "c-7", statusURL: url, now: M.at(1000)) == Action(.poll(url: url, at: M.at(1000))))
        #expect(m.acceptedCall == AcceptedCall(providerCallId: "c-7", statusURL: url))
        #expect(m.state == .following(.init(callId: "c-7", statusURL: url, polls: 0, lastStatus: nil)))
        // A refused or failed poll keeps polling: a resumed call is never POSTed again.
        #expect(
            m.pollCompleted(M.answer(503), now: M.at(1100))
                == Action(.poll(url: url, at: M.at(3100)), notes: [.pollRefused(status: 503)]))
        #expect(
            m.pollCompleted(.noAnswer("reset"), now: M.at(3200))
                == Action(.poll(url: url, at: M.at(5200)), notes: [.pollFailed("reset")]))
        #expect(
            m.pollCompleted(M.answer(200, #"{"status":"busy","durationMs":900}"#), now: M.at(5300))
                == Action(.finish(PlacedCall(outcome: .busy, providerCallId: "c-7", durationMs: 900, detail: ["providerStatus": "busy"]))))
        #expect(m.state == .done)
        #expect(m.acceptedCall == nil)
    }

    @Test("resume at or past the deadline, or followed to it: outcome unknown, with the provider's call id")
    func machineResumeDeadline() {
        var late = M.machine(deadline: 60_000)
        #expect(
            late.resume(callId: "c-7", statusURL: "u", now: M.at(60_000))
                == Action(.finish(M.unknown("the call had not ended at its hard limit", callId: "c-7", ["polls": 0]))))
        #expect(late.state == .done)

        var m = M.machine(pollInterval: .seconds(2), deadline: 10_000)
        _ = m.resume(callId: "c-7", statusURL: "u", now: M.at(0))
        #expect(
            m.pollCompleted(M.answer(200, #"{"status":"in-progress"}"#), now: M.at(8500))
                == Action(
                    .finish(
                        M.unknown("the call had not ended at its hard limit", callId: "c-7", ["polls": 1, "lastStatus": "in-progress"]))))
    }

    static func answer(_ exchange: Machine.Exchange, callId: String? = "c-1") -> LookupAnswer {
        Machine.lookupAnswer(exchange, url: "https://p.example/calls/c-1", callId: callId, statusMap: .default)
    }

    @Test("lookupAnswer: a final status ends the call (the id given, else the body's), 404 is no call, else unknown")
    func lookupAnswer() {
        let body = #"{"id":"c-9","status":"no-answer","durationMs":1234,"detail":{"sip":480}}"#
        let ended = PlacedCall(
            outcome: .noAnswer, providerCallId: "c-1", durationMs: 1234,
            detail: ["providerStatus": "no-answer", "provider": ["sip": 480]])
        #expect(Self.answer(M.answer(200, body)) == .ended(ended))
        var fromBody = ended
        fromBody.providerCallId = "c-9"
        #expect(Self.answer(M.answer(200, body), callId: nil) == .ended(fromBody))
        // 404 is the provider's word that there is no call; the rest leaves it unknown.
        #expect(
            Self.answer(M.answer(404, #"{"error":"no such call"}"#))
                == .notPlaced("the provider has no such call (HTTP 404 from GET https://p.example/calls/c-1)"))
        #expect(Self.answer(M.answer(200, #"{"id":"c-1","status":"ringing"}"#)) == .unknown("the call is still ringing"))
        #expect(Self.answer(M.answer(200, #"{"status":"in-progress"}"#)) == .unknown("the call is still in-progress"))
        #expect(Self.answer(M.answer(200, #"{"id":"c-1"}"#)) == .unknown("the lookup's answer has no status"))
        #expect(
            Self.answer(M.answer(200, #"{"status":"warming-up"}"#))
                == .unknown("the provider's status warming-up is not in the status map"))
        #expect(
            Self.answer(M.answer(200, #"{"status":"completed"}"#), callId: nil)
                == .unknown("the lookup's answer names no call id"))
        #expect(Self.answer(M.answer(200, "<html>")) == .unknown("the lookup's answer is not a JSON object: <html>"))
        for status in [500, 503, 429, 401, 410] {
            #expect(Self.answer(M.answer(status)) == .unknown("the lookup was answered HTTP \(status)"))
        }
        #expect(Self.answer(.noAnswer("timeout")) == .unknown("the lookup failed: timeout"))
        #expect(Self.answer(.notSent("refused")) == .unknown("the lookup failed: refused"))
    }

    // MARK: 2. The http placer against the fake provider

    @Test("place: the accepted hook is called once, with the provider's id and status URL, before any poll", arguments: [true, false])
    func acceptedHook(giveStatusURL: Bool) async throws {
        var b = FakeProvider.Behaviour()
        b.endAtPoll = 3
        b.giveStatusURL = giveStatusURL
        try await HTTPPlacerTests.withProvider(b) { provider, placer, port in
            let seen = NIOLockedValueBox<[AcceptedCall]>([])
            let pollsThen = NIOLockedValueBox<[Int]>([])
            var request = HTTPPlacerTests.request()
            request.accepted = { call in
                seen.withLockedValue { $0.append(call) }
                pollsThen.withLockedValue { $0.append(provider.calls.first?.polls ?? -1) }
            }
            let placed = await placer.place(request)
            #expect(placed.outcome == .answered && placed.outcomeKnown && placed.providerCallId == "call-1")
            #expect(
                seen.withLockedValue { $0 }
                    == [AcceptedCall(providerCallId: "call-1", statusURL: "http://127.0.0.1:\(port)/calls/call-1")])
            #expect(pollsThen.withLockedValue { $0 } == [0], "told of the acceptance before the first poll")
            #expect(provider.calls.first?.polls == 3)
        }
    }

    @Test("resume: a call accepted earlier is followed to the provider's outcome with no second POST, and no hook")
    func placerResume() async throws {
        var b = FakeProvider.Behaviour()
        b.neverEnds = true
        b.finalStatus = { _ in "voicemail" }
        try await HTTPPlacerTests.withProvider(b) { provider, placer, port in
            let accepted = NIOLockedValueBox<AcceptedCall?>(nil)
            var first = HTTPPlacerTests.request(within: .seconds(3))  // long enough for the POST under a loaded suite
            first.accepted = { call in accepted.withLockedValue { $0 = call } }
            let lost = await placer.place(first)
            #expect(!lost.outcomeKnown && lost.providerCallId == "call-1", "the first run gave up at its limit")
            let call = try #require(accepted.withLockedValue { $0 })
            #expect(call == AcceptedCall(providerCallId: "call-1", statusURL: "http://127.0.0.1:\(port)/calls/call-1"))

            provider.setBehaviour { $0.neverEnds = false }
            let getsBefore = provider.gets.count
            let told = NIOLockedValueBox(0)
            var again = HTTPPlacerTests.request(within: .seconds(10))
            again.accepted = { _ in told.withLockedValue { $0 += 1 } }
            let placed = await placer.resume(again, following: call)
            #expect(placed.outcome == .voicemail && placed.outcomeKnown && placed.providerCallId == "call-1")
            #expect(provider.posts == [Self.key: 1] && provider.callsCreated == [Self.key: 1], "no second POST")
            #expect(provider.gets.count > getsBefore)
            #expect(told.withLockedValue { $0 } == 0, "a resumed call was spooled already")

            // No time left: unknown at once, with the id, and nothing sent.
            let getsNow = provider.gets.count
            let late = await placer.resume(HTTPPlacerTests.request(within: .zero), following: call)
            #expect(!late.outcomeKnown && late.providerCallId == "call-1")
            #expect(provider.gets.count == getsNow && provider.posts == [Self.key: 1])
        }
    }

    @Test("lookup by id: ended, still ringing, status API down; a 404 by id alone is not the provider's word; never a POST, never a call")
    func lookupById() async throws {
        try await HTTPPlacerTests.withProvider { provider, placer, _ in
            #expect(placer.canLookUp)
            let placed = await placer.place(HTTPPlacerTests.request())
            #expect(placed.outcome == .answered)
            let (posts, created) = (provider.posts, provider.callsCreated)

            #expect(await placer.lookup(Self.lookup()) == Self.call1Ended)
            let get = try #require(provider.gets.last)
            #expect(get.key == Self.key && !get.byKey && get.status == 200)

            provider.setBehaviour { $0.neverEnds = true }
            #expect(await placer.lookup(Self.lookup()) == .unknown("the call is still in-progress"))

            provider.setBehaviour { $0.neverEnds = false; $0.failGets = 503 }
            #expect(await placer.lookup(Self.lookup()) == .unknown("the lookup was answered HTTP 503"))

            // Forgotten, or an id the provider never gave out: without a lookup by key a 404 could be a
            // wrong URL for every call, so it stays unknown (no redial).
            provider.setBehaviour { $0.failGets = nil; $0.forgets = { _ in true } }
            #expect(Self.kind(await placer.lookup(Self.lookup())) == "unknown")
            provider.setBehaviour { $0.forgets = { _ in false } }
            #expect(Self.kind(await placer.lookup(Self.lookup(Self.unknownCall(providerCallId: "call-99")))) == "unknown")

            #expect(provider.posts == posts, "a lookup never POSTs")
            #expect(provider.callsCreated == created, "a lookup never creates a call")
            #expect(provider.lookupsByKey.isEmpty, "with an id, no lookup by key")
        }
    }

    @Test("lookup by key when no id was learnt: ended, or not placed for a key never posted; no URL: unknown")
    func lookupByKey() async throws {
        try await HTTPPlacerTests.withProvider { provider, placer, port in
            _ = await placer.place(HTTPPlacerTests.request())
            let (posts, created, gets) = (provider.posts, provider.callsCreated, provider.gets.count)

            // Without a by-key URL and without an id: nothing to ask, nothing asked.
            #expect(Self.kind(await placer.lookup(Self.lookup(Self.unknownCall(providerCallId: nil)))) == "unknown")
            #expect(provider.gets.count == gets)

            var configuration = placer.configuration
            configuration.lookupByKeyURLTemplate = "http://127.0.0.1:\(port)/calls?idempotencyKey={idempotencyKey}"
            let byKey = HTTPPlacer(configuration: configuration, logger: Logger(label: "test"))
            // The key holds a `#`: sent unescaped it would start a fragment and find nothing.
            #expect(await byKey.lookup(Self.lookup(Self.unknownCall(providerCallId: nil))) == Self.call1Ended)
            #expect(provider.lookupsByKey == [Self.key: 1])

            let never = await byKey.lookup(Self.lookup(Self.unknownCall(providerCallId: nil, key: "q-2:2026-11-29#1")))
            #expect(Self.kind(never) == "notPlaced")
            #expect(provider.lookupsByKey["q-2:2026-11-29#1"] == 1)

            // A 404 by id is asked again by key: the key's 404 is the provider's word.
            provider.setBehaviour { $0.forgets = { _ in true } }
            let before = provider.lookupsByKey[Self.key] ?? 0
            #expect(Self.kind(await byKey.lookup(Self.lookup())) == "notPlaced")
            #expect(provider.lookupsByKey[Self.key] == before + 1)
            provider.setBehaviour { $0.forgets = { _ in false } }

            provider.setBehaviour { $0.failGets = 503 }
            #expect(
                await byKey.lookup(Self.lookup(Self.unknownCall(providerCallId: nil)))
                    == .unknown("the lookup was answered HTTP 503"))
            await byKey.shutdown()

            #expect(provider.posts == posts, "a lookup never POSTs")
            #expect(provider.callsCreated == created, "a lookup never creates a call")
        }
    }

    @Test("lookupURL: by id (the template or <endpoint>/<id>), else by key, the value escaped; else none")
    func lookupURL() {
        var c = HTTPPlacer.Configuration(endpoint: "https://p.example/v1/calls")
        #expect(HTTPPlacer.lookupURL(byIdOf: Self.unknownCall(providerCallId: "c 1/x"), c) == "https://p.example/v1/calls/c%201%2Fx")
        #expect(HTTPPlacer.lookupURL(byIdOf: Self.unknownCall(providerCallId: nil), c) == nil)
        #expect(HTTPPlacer.lookupURL(byKeyOf: Self.unknownCall(providerCallId: nil), c) == nil)
        c.lookupURLTemplate = "https://p.example/v2/calls/{callId}/status"
        c.lookupByKeyURLTemplate = "https://p.example/v2/calls?key={idempotencyKey}"
        #expect(HTTPPlacer.lookupURL(byIdOf: Self.unknownCall(), c) == "https://p.example/v2/calls/call-1/status")
        #expect(HTTPPlacer.lookupURL(byIdOf: Self.unknownCall(providerCallId: "a?b#c"), c) == "https://p.example/v2/calls/a%3Fb%23c/status")
        #expect(
            HTTPPlacer.lookupURL(byKeyOf: Self.unknownCall(providerCallId: nil, key: "q&x=1#2"), c)
                == "https://p.example/v2/calls?key=q%26x%3D1%232")
        // In a query `+` reads as a space to most servers (form decoding): the key must say %2B.
        #expect(HTTPPlacer.lookupURL(byKeyOf: Self.unknownCall(providerCallId: nil, key: "a+b;c,d#1"), c)
            == "https://p.example/v2/calls?key=a%2Bb%3Bc%2Cd%231")
    }

    // MARK: 3. The exec lookup command

    static func execLookup(_ path: String, call: UnknownCall = Self.unknownCall(), within: Duration = .seconds(30)) async
        -> LookupAnswer
    {
        await ExecPlacer(configuration: .init(command: "/bin/false", lookupCommand: path))
            .lookup(Self.lookup(call, within: within))
    }

    @Test("exec lookup: an outcome is the call's end, the id the script's or else the call's")
    func execEnded() async throws {
        let script = #"echo '{"outcome":"VOICEMAIL","providerCallId":"x-9","durationMs":42,"detail":{"n":1}}'"#
        try await ExecPlacerTests.withScript(script + "\n") { path, _ in
            let voicemail = PlacedCall(outcome: .voicemail, providerCallId: "x-9", durationMs: 42, detail: ["n": 1])
            #expect(await Self.execLookup(path) == .ended(voicemail))
        }
        try await ExecPlacerTests.withScript("echo '{\"outcome\":\"busy\"}'\n") { path, _ in
            #expect(await Self.execLookup(path) == .ended(PlacedCall(outcome: .busy, providerCallId: "call-1")))
        }
    }

    @Test(
        "exec lookup: what a script says, or how it ends",
        arguments: [
            ("echo UNKNOWN", "unknown"), ("echo '{\"outcome\":\"UNKNOWN\"}'", "unknown"), ("echo unknown", "unknown"),
            ("echo NOT_PLACED", "notPlaced"), ("echo '{\"outcome\":\"NOT_PLACED\"}'", "notPlaced"),
            ("echo '{\"outcome\":\"not_placed\"}'", "notPlaced"), ("exit 3", "unknown"),
            ("echo '{\"outcome\":\"ANSWERED\"}'; exit 3", "unknown"), ("echo NOT_PLACED; exit 1", "unknown"),
            ("echo 'hello there'", "unknown"), ("echo '{\"outcome\":\"MAYBE\"}'", "unknown"), ("true", "unknown"),
            ("kill -9 $$", "unknown"),
        ])
    func execAnswers(_ script: String, _ kind: String) async throws {
        try await ExecPlacerTests.withScript(script + "\n") { path, _ in
            #expect(Self.kind(await Self.execLookup(path)) == kind)
        }
    }

    @Test("exec lookup: stdout past the limit is no answer, even when it begins NOT_PLACED")
    func execOverflow() async throws {
        try await ExecPlacerTests.withScript("echo NOT_PLACED\nsleep 0.2\nprintf '%s' 0123456789ABCDEFGHIJ\n") { path, _ in
            let answer = await ExecPlacer(configuration: .init(command: "/bin/false", outputLimit: 16, lookupCommand: path))
                .lookup(Self.lookup())
            #expect(Self.kind(answer) == "unknown")
        }
    }

    @Test("exec lookup: a script still running at the limit is killed, unknown")
    func execTimeout() async throws {
        // Not `sleep 300`: the provider end-to-end test looks for leftover `sleep 300` processes.
        try await ExecPlacerTests.withScript("sleep 297\n") { path, _ in
            let started = ContinuousClock.now
            let answer = await Self.execLookup(path, within: .milliseconds(500))
            #expect(answer == .unknown("the lookup command was still running at its limit"))
            #expect(ContinuousClock.now - started < .seconds(30))
        }
    }

    @Test("exec lookup: the request with lookup and providerCallId on stdin, CAMPAIGN_LOOKUP=1 in the environment")
    func execInput() async throws {
        let script = """
            d=$(dirname "$0")
            cat > "$d/request.json"
            printf '%s|%s|%s' "$CAMPAIGN_LOOKUP" "$CAMPAIGN_IDEMPOTENCY_KEY" "${CAMPAIGN_PROVIDER_CALL_ID-unset}" > "$d/env"
            echo UNKNOWN
            """
        try await ExecPlacerTests.withScript(script + "\n") { path, dir in
            #expect(Self.kind(await Self.execLookup(path)) == "unknown")
            let request = try Data(contentsOf: dir.appendingPathComponent("request.json"))
            let object = try #require(try JSONSerialization.jsonObject(with: request) as? [String: Any])
            #expect(object["lookup"] as? Bool == true && object["providerCallId"] as? String == "call-1")
            #expect(object["idempotencyKey"] as? String == Self.key && object["queueJobId"] as? String == "q-1:2026-11-29")
            #expect((object["customer"] as? [String: Any])?["phone"] as? String == "+14155550100")
            #expect(try String(contentsOf: dir.appendingPathComponent("env"), encoding: .utf8) == "1|\(Self.key)|call-1")

            _ = await Self.execLookup(path, call: Self.unknownCall(providerCallId: nil))
            let bare = try Data(contentsOf: dir.appendingPathComponent("request.json"))
            let bareObject = try #require(try JSONSerialization.jsonObject(with: bare) as? [String: Any])
            #expect(bareObject["lookup"] as? Bool == true && bareObject["providerCallId"] == nil)
            #expect(try String(contentsOf: dir.appendingPathComponent("env"), encoding: .utf8) == "1|\(Self.key)|unset")
        }
    }

    @Test("exec: canLookUp only with a lookup command; without one a lookup is unknown and runs nothing")
    func execCanLookUp() async {
        let none = ExecPlacer(configuration: .init(command: "/bin/true"))
        #expect(!none.canLookUp)
        #expect(Self.kind(await none.lookup(Self.lookup())) == "unknown")
        #expect(ExecPlacer(configuration: .init(command: "/bin/true", lookupCommand: "/bin/true")).canLookUp)
    }

    // MARK: 4. The spool of accepted calls

    static func withSpool(_ body: (ReportSpool, String) throws -> Void) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(try ReportSpool(directory: dir), dir)
    }

    static func spooledCall(_ jobId: Int64) -> ReportSpool.Call {
        var job = HTTPPlacerTests.request().job
        job.jobId = jobId
        return ReportSpool.Call(
            job: job, idempotencyKey: "q-\(jobId)#1",
            accepted: AcceptedCall(providerCallId: "call-\(jobId)", statusURL: "http://p.example/calls/call-\(jobId)"),
            startedAt: "2026-11-29T10:00:00.000Z")
    }

    static func files(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
    }

    @Test("spooled calls: saved and read back, oldest job first, until their report is spooled")
    func spoolRoundTrip() throws {
        try Self.withSpool { spool, dir in
            try spool.saveCall(Self.spooledCall(9))
            try spool.saveCall(Self.spooledCall(7))
            #expect(spool.pendingCalls() == [Self.spooledCall(7), Self.spooledCall(9)])
            #expect(spool.pendingCalls() == [Self.spooledCall(7), Self.spooledCall(9)], "reading consumes nothing")
            #expect(Self.files(dir) == ["call-7.json", "call-9.json"])

            try spool.save(.fail(.init(jobId: 7, leaseToken: "t", retryable: false, error: "e", outcome: .failed, call: nil)))
            #expect(Self.files(dir) == ["call-9.json", "report-7.json"], "the report removed the call it ends")
            #expect(spool.pendingCalls() == [Self.spooledCall(9)])
            #expect(spool.pending().map(\.jobId) == [7])

            // A call file beside its report (a kill between the two writes): skipped and removed.
            try spool.save(.complete(CompleteJob.Params(jobId: 9, leaseToken: "t", outcome: .answered, call: nil)))
            try spool.saveCall(Self.spooledCall(9))
            try spool.saveCall(Self.spooledCall(8))
            #expect(spool.pendingCalls() == [Self.spooledCall(8)])
            #expect(Self.files(dir) == ["call-8.json", "report-7.json", "report-9.json"])
        }
    }

    @Test("spooled calls: an unreadable file is renamed .bad and skipped")
    func spoolGarbage() throws {
        try Self.withSpool { spool, dir in
            try Data("not json".utf8).write(to: URL(fileURLWithPath: "\(dir)/call-5.json"))
            try Data("{}".utf8).write(to: URL(fileURLWithPath: "\(dir)/call-6.json"))
            try spool.saveCall(Self.spooledCall(4))
            #expect(spool.pendingCalls() == [Self.spooledCall(4)])
            #expect(Self.files(dir) == ["call-4.json", "call-5.json.bad", "call-6.json.bad"])
            #expect(spool.pending().isEmpty, "call files are not reports")
        }
    }

    // MARK: 5. The report a lookup makes

    static func report(_ answer: LookupAnswer, call: UnknownCall = Self.unknownCall(lookups: 3)) -> JobReport? {
        AgentRunner.lookupReport(answer, call: call, provider: "exec", policy: .default)?.wire
    }

    @Test("lookupReport: unknown makes no report; not placed a retryable jobs.fail with notPlaced and no call")
    func lookupReportUnknownAndNotPlaced() throws {
        #expect(Self.report(.unknown("still ringing")) == nil)
        let notPlaced = try #require(Self.report(.notPlaced("HTTP 404")))
        let expected = FailJob.Params(
            jobId: 7, leaseToken: "t", retryable: true, error: "not placed: HTTP 404", outcome: nil, call: nil, notPlaced: true)
        #expect(notPlaced == .fail(expected))
        #expect(notPlaced.fail?.notPlaced == true && notPlaced.fail?.call == nil && notPlaced.fail?.outcomeUnknown == nil)
        try notPlaced.validate()
    }

    @Test("lookupReport: an ended call is a normal late report, its call log marked reconciled")
    func lookupReportEnded() throws {
        let answered = PlacedCall(outcome: .answered, durationMs: 1234, detail: ["providerStatus": "completed"])
        let complete = try #require(Self.report(.ended(answered)))
        #expect(
            complete
                == .complete(
                    CompleteJob.Params(
                        jobId: 7, leaseToken: "t", outcome: .answered,
                        call: CallRecord(
                            provider: "http", providerCallId: "call-1", idempotencyKey: Self.key, startedAt: nil,
                            endedAt: nil, outcome: .answered, durationMs: 1234,
                            detail: ["providerStatus": "completed", "reconciled": true, "lookups": 3]))))
        try complete.validate()

        // The provider's id wins; the placer's name when the call was never logged; the policy decides.
        var busy = PlacedCall(outcome: .busy, providerCallId: "x-9", outcomeKnown: false)
        busy.optOut = true
        let fail = try #require(Self.report(.ended(busy), call: Self.unknownCall(provider: nil, lookups: 1))?.fail)
        #expect(fail.retryable && fail.outcome == .busy && fail.outcomeUnknown == nil && fail.notPlaced == nil)
        #expect(fail.error == "call ended BUSY")
        let record = try #require(fail.call)
        #expect(record.provider == "exec" && record.providerCallId == "x-9" && record.optOut == true)
        #expect(record.startedAt == nil && record.endedAt == nil && record.durationMs == nil)
        #expect(record.detail == ["reconciled": true, "lookups": 1])
        try JobReport.fail(fail).validate()
    }
}
