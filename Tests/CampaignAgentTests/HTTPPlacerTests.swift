import CampaignAgentKit
import CampaignCore
import CampaignProtocol
import CampaignTestSupport
import Foundation
import Logging
import Testing

/// The `http` placer against a real HTTP server on loopback (a fake provider with scripted
/// misbehaviour). Every test checks what the provider saw, not only what the placer said.
@Suite("HTTP placer")
struct HTTPPlacerTests {
    static let token = "test-token"

    /// A provider, a token file and a placer pointed at them.
    static func withProvider<R: Sendable>(
        _ behaviour: FakeProvider.Behaviour = .init(), port fixedPort: Int? = nil, start: Bool = true,
        configure: (inout HTTPPlacer.Configuration) -> Void = { _ in }, clock: PlacerClock = .continuous,
        _ body: (FakeProvider, HTTPPlacer, Int) async throws -> R
    ) async throws -> R {
        let provider = FakeProvider(behaviour: behaviour)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("placer-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let tokenFile = dir.appendingPathComponent("provider-token").path
        try "\(Self.token)\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let port: Int
        var refusing: FakeProvider.ReservedPort?
        if start {
            port = try await provider.start(port: fixedPort ?? 0)
        } else if let given = fixedPort {
            port = given
        } else {
            refusing = try FakeProvider.ReservedPort()
            port = refusing!.port
        }
        defer { refusing?.release() }
        var config = HTTPPlacer.Configuration(
            endpoint: "http://127.0.0.1:\(port)/calls", tokenFile: tokenFile, pollInterval: .milliseconds(20),
            requestTimeout: .seconds(2), maximumPosts: 6, retryBackoff: .milliseconds(20))
        configure(&config)
        let placer = HTTPPlacer(configuration: config, logger: Logger(label: "test"), clock: clock)
        do {
            let result = try await body(provider, placer, port)
            await placer.shutdown()
            await provider.stop()
            return result
        } catch {
            await placer.shutdown()
            await provider.stop()
            throw error
        }
    }

    static func request(_ key: String = "q-1:2026-11-29#1", within: Duration = .seconds(30)) -> CallRequest {
        let job = LeasedJob(
            jobId: 7, queueJobId: "q-1:2026-11-29", leaseToken: "t", attempt: 1, maxAttempts: 3,
            leaseExpiresAt: "2026-11-29T10:00:00Z", reason: "renewal",
            customer: CallTarget(
                customerId: 42, externalRef: "c-42", name: "Ada", phone: "+14155550100", timezone: "America/New_York",
                attributes: ["plan": "gold"]))
        return CallRequest(job: job, idempotencyKey: key, deadline: .now + within)
    }

    static let finals: [(String, CallOutcome)] = [
        ("completed", .answered), ("no-answer", .noAnswer), ("busy", .busy), ("voicemail", .voicemail),
        ("machine", .voicemail), ("canceled", .rejected), ("rejected", .rejected), ("failed", .failed),
    ]

    @Test("accepted, followed to each final status", arguments: finals)
    func followsToOutcome(_ status: String, _ outcome: CallOutcome) async throws {
        var b = FakeProvider.Behaviour()
        b.finalStatus = { _ in status }
        b.endAtPoll = 3
        try await Self.withProvider(b) { provider, placer, _ in
            let placed = await placer.place(Self.request())
            #expect(placed.outcome == outcome)
            #expect(placed.outcomeKnown)
            #expect(!placed.optOut)
            #expect(placed.providerCallId == "call-1")
            #expect(placed.durationMs == 1234)
            #expect(provider.posts == ["q-1:2026-11-29#1": 1])
            #expect(provider.callsCreated == ["q-1:2026-11-29#1": 1])
            let call = try #require(provider.calls.first)
            #expect(call.polls == 3, "followed until the provider said it ended, then no more polls")
            // The request carries what the provider needs.
            let body = try #require(try JSONSerialization.jsonObject(with: Data(call.requestBody.utf8)) as? [String: Any])
            #expect(body["idempotencyKey"] as? String == "q-1:2026-11-29#1")
            let customer = try #require(body["customer"] as? [String: Any])
            #expect(customer["phone"] as? String == "+14155550100")
            #expect((customer["attributes"] as? [String: Any])?["plan"] as? String == "gold")
        }
    }

    @Test("a status that says the person asked not to be called again is an opt-out", arguments: ["opted-out", "do_not_call"])
    func optOutStatus(_ status: String) async throws {
        var b = FakeProvider.Behaviour()
        b.finalStatus = { _ in status }
        b.endAtPoll = 2
        try await Self.withProvider(b) { _, placer, _ in
            let placed = await placer.place(Self.request())
            #expect(placed.outcome == .answered && placed.optOut && placed.outcomeKnown)
        }
    }

    @Test("a status URL is derived from the endpoint and the call id when the provider gives none")
    func derivedStatusURL() async throws {
        var b = FakeProvider.Behaviour()
        b.giveStatusURL = false
        try await Self.withProvider(b) { provider, placer, _ in
            let placed = await placer.place(Self.request())
            #expect(placed.outcome == .answered)
            #expect(provider.calls.first?.polls ?? 0 >= 1)
        }
    }

    @Test("5xx before acceptance: retried under the same key, one call at the provider")
    func retriesServerErrors() async throws {
        var b = FakeProvider.Behaviour()
        b.failFirstPosts = 3
        try await Self.withProvider(b) { provider, placer, _ in
            let placed = await placer.place(Self.request())
            #expect(placed.outcome == .answered)
            #expect(provider.posts == ["q-1:2026-11-29#1": 4])
            #expect(provider.callsCreated == ["q-1:2026-11-29#1": 1])
        }
    }

    @Test("an acceptance lost on the way: the retry with the same key finds the same call")
    func lostAcceptance() async throws {
        var b = FakeProvider.Behaviour()
        b.dropFirstPosts = 1
        b.dropAfterCreating = true
        try await Self.withProvider(b) { provider, placer, _ in
            let placed = await placer.place(Self.request())
            #expect(placed.outcome == .answered)
            #expect(placed.providerCallId == "call-1")
            #expect(provider.posts == ["q-1:2026-11-29#1": 2])
            #expect(provider.callsCreated == ["q-1:2026-11-29#1": 1])
        }
    }

    @Test("connection refused until the provider comes up: retried, one call")
    func refusedThenUp() async throws {
        let reserved = try FakeProvider.ReservedPort()
        defer { reserved.release() }
        try await Self.withProvider(port: reserved.port, start: false, configure: { $0.retryBackoff = .milliseconds(200) }) {
            provider, placer, port in
            async let placed = placer.place(Self.request())
            try await Task.sleep(for: .milliseconds(300))
            reserved.release()
            try await provider.start(port: port)
            let result = await placed
            #expect(result.outcome == .answered)
            #expect(result.outcomeKnown)
            #expect(provider.callsCreated == ["q-1:2026-11-29#1": 1])
            #expect(provider.posts == ["q-1:2026-11-29#1": 1], "refused attempts never reached it")
        }
    }

    @Test("connection refused throughout: no call, a known failure (retryable by policy)")
    func refusedThroughout() async throws {
        try await Self.withProvider(start: false) { _, placer, _ in
            let placed = await placer.place(Self.request())
            #expect(placed.outcome == .failed)
            #expect(placed.outcomeKnown, "nothing reached the provider")
            #expect(placed.providerCallId == nil)
        }
    }

    @Test("a 4xx refusal: no call, one POST, known failure")
    func refusal() async throws {
        var b = FakeProvider.Behaviour()
        b.refuseStatus = 422
        try await Self.withProvider(b) { provider, placer, _ in
            let placed = await placer.place(Self.request())
            #expect(placed.outcome == .failed)
            #expect(placed.outcomeKnown)
            #expect(placed.detail?["httpStatus"] == .int(422))
            #expect(provider.posts == ["q-1:2026-11-29#1": 1])
            #expect(provider.callsCreated.isEmpty)
        }
    }

    @Test("a wrong token is refused by the provider and no call is placed")
    func wrongToken() async throws {
        var b = FakeProvider.Behaviour()
        b.token = "another-token"
        try await Self.withProvider(b) { provider, placer, _ in
            let placed = await placer.place(Self.request())
            #expect(placed.outcome == .failed)
            #expect(placed.outcomeKnown)
            #expect(placed.detail?["httpStatus"] == .int(401))
            #expect(provider.unauthorized == 1)
            #expect(provider.callsCreated.isEmpty)
        }
    }

    @Test("accepted, then the call does not end by the hard limit: unknown, no second call")
    func timeoutAfterAcceptance() async throws {
        var b = FakeProvider.Behaviour()
        b.neverEnds = true
        try await Self.withProvider(b) { provider, placer, _ in
            let placed = await placer.place(Self.request(within: .seconds(10)))
            #expect(!placed.outcomeKnown)
            #expect(placed.outcome == .failed)
            #expect(placed.providerCallId == "call-1", "what is known is reported")
            // What was last heard of the call is kept (its first status, or a later poll's).
            #expect([.string("queued"), .string("in-progress")].contains(placed.detail?["lastStatus"]), "\(String(describing: placed.detail))")
            #expect(provider.posts == ["q-1:2026-11-29#1": 1])
            #expect(provider.callsCreated == ["q-1:2026-11-29#1": 1])
        }
    }

    @Test("an acceptance that is not JSON: outcome unknown, never posted again")
    func malformedAcceptance() async throws {
        var b = FakeProvider.Behaviour()
        b.malformedAccept = true
        try await Self.withProvider(b) { provider, placer, _ in
            let placed = await placer.place(Self.request())
            #expect(!placed.outcomeKnown)
            #expect(provider.posts == ["q-1:2026-11-29#1": 1])
        }
    }

    @Test("status answers that are not JSON: the call is followed until the limit, then unknown")
    func malformedPolls() async throws {
        var b = FakeProvider.Behaviour()
        b.malformedPolls = true
        // The pauses and the limit run on a clock the test moves: three polls, then the limit.
        let manual = ManualClock()
        let start = ContinuousClock.now
        let clock = PlacerClock(
            now: { start + manual.now.offset },
            sleep: { until in try await manual.sleep(until: .init(offset: until - start)) })
        try await Self.withProvider(b, clock: clock) { provider, placer, _ in
            let request = Self.request(within: .seconds(20))
            async let placed = placer.place(
                CallRequest(job: request.job, idempotencyKey: request.idempotencyKey, deadline: start + .seconds(20)))
            for poll in 1...3 {
                try await waitUntil { manual.sleepers == 1 }  // accepted (or polled), waits for the next poll
                #expect(provider.calls.first?.polls ?? 0 == poll - 1)
                manual.advance(by: .milliseconds(20))
            }
            try await waitUntil { manual.sleepers == 1 && provider.calls.first?.polls ?? 0 == 3 }
            manual.advance(by: .seconds(20))  // past the limit
            let result = await placed
            #expect(!result.outcomeKnown)
            #expect(result.providerCallId == "call-1")
            #expect(provider.posts == ["q-1:2026-11-29#1": 1])
            #expect(provider.calls.first?.polls == 3, "no poll after the limit")
        }
    }

    @Test("a POST answered after the hard limit: the placer returns at the limit, outcome unknown, one POST")
    func slowAcceptance() async throws {
        var b = FakeProvider.Behaviour()
        b.postDelay = .seconds(60)
        // One request may take longer than the call's limit: the limit is what cuts it.
        try await Self.withProvider(b, configure: { $0.requestTimeout = .seconds(60) }) { provider, placer, _ in
            let started = ContinuousClock.now
            let placed = await placer.place(Self.request(within: .seconds(5)))
            // The provider answers after 60 s; the placer gives up at its 5 s limit (the margin is
            // for a loaded machine: this tells "returned at the limit" from "waited for the answer").
            #expect(ContinuousClock.now - started < .seconds(30), "waited for the slow provider")
            #expect(!placed.outcomeKnown, "the request reached the provider: it may have placed the call")
            #expect(provider.posts == ["q-1:2026-11-29#1": 1])
            #expect(provider.callsCreated == ["q-1:2026-11-29#1": 1])
        }
    }

    @Test("slow status answers past the hard limit: unknown with the provider's call id")
    func slowPolls() async throws {
        var b = FakeProvider.Behaviour()
        b.pollDelay = .seconds(60)
        try await Self.withProvider(b) { provider, placer, _ in
            let started = ContinuousClock.now
            let placed = await placer.place(Self.request(within: .seconds(10)))
            #expect(ContinuousClock.now - started < .seconds(30), "waited for the slow provider")
            #expect(!placed.outcomeKnown)
            #expect(placed.providerCallId == "call-1")
            #expect(provider.posts == ["q-1:2026-11-29#1": 1])
        }
    }

    @Test("many calls at once, each key called once")
    func concurrentCalls() async throws {
        var b = FakeProvider.Behaviour()
        b.failFirstPosts = 1
        b.callDuration = { _ in .milliseconds(Int.random(in: 10...200)) }
        try await Self.withProvider(b) { provider, placer, _ in
            let outcomes = await withTaskGroup(of: PlacedCall.self) { group in
                for i in 0..<60 { group.addTask { await placer.place(Self.request("job-\(i)#1")) } }
                return await group.reduce(into: [PlacedCall]()) { $0.append($1) }
            }
            #expect(outcomes.count == 60)
            #expect(outcomes.allSatisfy { $0.outcome == .answered })
            #expect(provider.callsCreated.count == 60)
            #expect(provider.callsCreated.values.allSatisfy { $0 == 1 })
        }
    }
}
