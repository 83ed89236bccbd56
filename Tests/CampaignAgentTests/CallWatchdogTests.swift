import CampaignAgentKit
import CampaignCore
import CampaignTestSupport
import NIOConcurrencyHelpers
import Testing

/// The agent's one watchdog for every call's hard limit: a body that returns is answered, one
/// that overstays (even one that ignores cancellation) is abandoned with nil and cancelled, and
/// cancelling the caller cancels the body. The watchdog runs on a manual clock that the tests
/// move, so "not yet" and "now" are told apart exactly; the tests wait only for tasks to reach
/// their next step, never for time to pass.
@Suite("Call watchdog")
struct CallWatchdogTests {
    static let answered = PlacedCall(outcome: .answered, providerCallId: "p-1", durationMs: 5)

    @Test("a body that returns in time is answered, and nothing stays watched")
    func returnsInTime() async {
        let dog = CallWatchdog(tick: .seconds(1), clock: ManualClock())
        let results = await withTaskGroup(of: PlacedCall?.self) { group in
            for i in 0..<200 {
                group.addTask {
                    await dog.run(within: .seconds(30)) {
                        if i % 2 == 0 { await Task.yield() }
                        return Self.answered
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 200 && results.allSatisfy { $0 == Self.answered })
        #expect(dog.count == 0)
    }

    @Test("a body that ignores cancellation and overstays is abandoned at its limit, not a tick before, and was cancelled")
    func abandonsAnOverstayingBody() async throws {
        let clock = ManualClock()
        let dog = CallWatchdog(tick: .seconds(1), clock: clock)
        let gate = Gate()
        let sawCancel = NIOLockedValueBox(false)
        let answer = NIOLockedValueBox<PlacedCall??>(nil)
        let call = Task {
            let result = await dog.run(within: .seconds(10)) {
                await gate.wait()  // ignores cancellation: returns only when the test opens it
                sawCancel.withLockedValue { $0 = Task.isCancelled }
                return Self.answered
            }
            answer.withLockedValue { $0 = .some(result) }
        }
        for second in 1...9 {
            try await waitUntil { clock.sleepers == 1 }  // the watchdog waits for its next tick
            clock.advance(by: .seconds(1))
            try await waitUntil { clock.sleepers == 1 }  // it looked, and waits again
            #expect(answer.withLockedValue { $0 } == nil, "abandoned after \(second) s of a 10 s limit")
        }
        clock.advance(by: .seconds(1))
        await call.value
        #expect(answer.withLockedValue { $0 } == .some(nil))
        #expect(dog.count == 0)
        // The abandoned body was told to stop.
        gate.open()
        try await waitUntil { gate.passed == 1 }
        #expect(sawCancel.withLockedValue { $0 })
    }

    @Test("several calls: only the ones past their limit are abandoned")
    func mixed() async throws {
        let clock = ManualClock()
        let dog = CallWatchdog(tick: .seconds(1), clock: clock)
        async let quick = dog.run(within: .seconds(30)) { Self.answered }
        async let slow = dog.run(within: .seconds(10)) {
            try? await clock.sleep(for: .seconds(3600))
            return Self.answered
        }
        async let later = dog.run(within: .seconds(30)) {
            try? await clock.sleep(for: .seconds(20))
            return PlacedCall(outcome: .noAnswer)
        }
        // The watchdog and both sleeping bodies wait on the clock.
        try await waitUntil { clock.sleepers == 3 }
        clock.advance(by: .seconds(10))  // past slow's limit, before later's end
        // slow is abandoned (its sleep cancelled at once); the watchdog waits again, later still
        // sleeps and is the one call watched.
        try await waitUntil { clock.sleepers == 2 && dog.count == 1 }
        clock.advance(by: .seconds(10))  // later's body ends, 10 s before its limit
        let (q, s, l) = await (quick, slow, later)
        #expect(q == Self.answered)
        #expect(s == nil)
        #expect(l?.outcome == .noAnswer)
    }

    @Test("cancelling the caller cancels the body, whose answer is still returned")
    func cancellationPropagates() async throws {
        let clock = ManualClock()
        let dog = CallWatchdog(tick: .seconds(1), clock: clock)
        let task = Task {
            await dog.run(within: .seconds(30)) {
                do {
                    try await clock.sleep(for: .seconds(3600))
                    return Self.answered
                } catch {
                    return PlacedCall.unknown("cancelled")
                }
            }
        }
        try await waitUntil { clock.sleepers == 2 }  // the body and the watchdog
        task.cancel()
        let result = await task.value
        #expect(result?.outcomeKnown == false)
        #expect(result?.error == "cancelled")
    }

    @Test("a limit already over when the call starts abandons it at the next tick")
    func zeroLimit() async throws {
        let clock = ManualClock()
        let dog = CallWatchdog(tick: .seconds(1), clock: clock)
        async let result = dog.run(within: .zero) {
            try? await Task.sleep(for: .seconds(3600))
            return Self.answered
        }
        try await waitUntil { clock.sleepers == 1 }
        clock.advance(by: .seconds(1))
        #expect(await result == nil)
    }
}

/// A door that a body waits at without watching for cancellation, until the test opens it.
private final class Gate: Sendable {
    private struct State {
        var open = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        var passed = 0
    }
    private let state = NIOLockedValueBox(State())

    func wait() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let open = self.state.withLockedValue { s -> Bool in
                if !s.open { s.waiting.append(cont) }
                return s.open
            }
            if open { cont.resume() }
        }
        self.state.withLockedValue { $0.passed += 1 }
    }

    func open() {
        let waiting = self.state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
            s.open = true
            defer { s.waiting = [] }
            return s.waiting
        }
        for c in waiting { c.resume() }
    }

    var passed: Int { self.state.withLockedValue { $0.passed } }
}
