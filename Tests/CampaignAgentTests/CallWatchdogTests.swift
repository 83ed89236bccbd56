import CampaignAgentKit
import CampaignCore
import NIOConcurrencyHelpers
import Testing

/// The agent's one watchdog for every call's hard limit: a body that returns is answered, one
/// that overstays (even one that ignores cancellation) is abandoned with nil and cancelled, and
/// cancelling the caller cancels the body. Limits are generous multiples of the tick, so a slow
/// machine cannot turn a pass into a fail; what is checked is which outcome, never how fast.
@Suite("Call watchdog")
struct CallWatchdogTests {
    static let answered = PlacedCall(outcome: .answered, providerCallId: "p-1", durationMs: 5)

    @Test("a body that returns in time is answered, and nothing stays watched")
    func returnsInTime() async {
        let dog = CallWatchdog(tick: .milliseconds(20))
        let results = await withTaskGroup(of: PlacedCall?.self) { group in
            for i in 0..<200 {
                group.addTask {
                    await dog.run(within: .seconds(30)) {
                        if i % 2 == 0 { try? await Task.sleep(for: .milliseconds(5)) }
                        return Self.answered
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 200 && results.allSatisfy { $0 == Self.answered })
        #expect(dog.count == 0)
    }

    @Test("a body that ignores cancellation and overstays is abandoned at the limit, and was cancelled")
    func abandonsAnOverstayingBody() async {
        let dog = CallWatchdog(tick: .milliseconds(20))
        let sawCancel = NIOLockedValueBox(false)
        let released = NIOLockedValueBox(false)
        let result = await dog.run(within: .milliseconds(100)) {
            // Ignores cancellation: waits for the test to let it go, however long that is.
            while !released.withLockedValue({ $0 }) {
                if Task.isCancelled { sawCancel.withLockedValue { $0 = true } }
                try? await Task.sleep(for: .milliseconds(10))
            }
            return Self.answered
        }
        #expect(result == nil)
        #expect(dog.count == 0)
        // The abandoned body was told to stop.
        for _ in 0..<500 where !sawCancel.withLockedValue({ $0 }) { try? await Task.sleep(for: .milliseconds(10)) }
        #expect(sawCancel.withLockedValue { $0 })
        released.withLockedValue { $0 = true }
    }

    @Test("several calls: only the ones past their limit are abandoned")
    func mixed() async {
        let dog = CallWatchdog(tick: .milliseconds(20))
        async let quick = dog.run(within: .seconds(30)) { Self.answered }
        async let slow = dog.run(within: .milliseconds(100)) {
            try? await Task.sleep(for: .seconds(3600))
            return Self.answered
        }
        async let later = dog.run(within: .seconds(30)) {
            try? await Task.sleep(for: .milliseconds(300))
            return PlacedCall(outcome: .noAnswer)
        }
        let (q, s, l) = await (quick, slow, later)
        #expect(q == Self.answered)
        #expect(s == nil)
        #expect(l?.outcome == .noAnswer)
    }

    @Test("cancelling the caller cancels the body, whose answer is still returned")
    func cancellationPropagates() async {
        let dog = CallWatchdog(tick: .milliseconds(20))
        let started = NIOLockedValueBox(false)
        let task = Task {
            await dog.run(within: .seconds(30)) {
                started.withLockedValue { $0 = true }
                do {
                    try await Task.sleep(for: .seconds(3600))
                    return Self.answered
                } catch {
                    return PlacedCall.unknown("cancelled")
                }
            }
        }
        while !started.withLockedValue({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        let result = await task.value
        #expect(result?.outcomeKnown == false)
        #expect(result?.error == "cancelled")
    }

    @Test("a limit already over when the call starts abandons it")
    func zeroLimit() async {
        let dog = CallWatchdog(tick: .milliseconds(10))
        let result = await dog.run(within: .zero) {
            try? await Task.sleep(for: .seconds(3600))
            return Self.answered
        }
        #expect(result == nil)
    }
}
