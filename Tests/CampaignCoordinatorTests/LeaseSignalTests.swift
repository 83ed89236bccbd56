import CampaignCoordinator
import NIOConcurrencyHelpers
import Testing

/// Timeouts on a clock the test moves: `advance(by:)` runs what came due, in order.
final class ManualTimeouts: TimeoutScheduler {
    private struct Entry {
        var id: Int
        var at: Duration
        var body: @Sendable () -> Void
    }
    private struct State {
        var now = Duration.zero
        var next = 0
        var entries: [Entry] = []
    }
    private let state = NIOLockedValueBox(State())
    private let start = ContinuousClock.now

    /// The clock's instant: where it started plus how far the test moved it.
    var instant: ContinuousClock.Instant { self.start + self.state.withLockedValue { $0.now } }

    /// This clock as the coordinator's.
    var coordinatorClock: CoordinatorClock { CoordinatorClock(now: { self.instant }, timeouts: self) }

    /// Timeouts scheduled and neither run nor cancelled.
    var pending: Int { self.state.withLockedValue { $0.entries.count } }

    func schedule(in delay: Duration, _ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let id = self.state.withLockedValue { s -> Int in
            s.next += 1
            s.entries.append(Entry(id: s.next, at: s.now + delay, body: body))
            return s.next
        }
        return { self.state.withLockedValue { $0.entries.removeAll { $0.id == id } } }
    }

    func advance(by d: Duration) {
        let due = self.state.withLockedValue { s -> [Entry] in
            s.now += d
            let due = s.entries.filter { $0.at <= s.now }.sorted { $0.at < $1.at }
            s.entries.removeAll { $0.at <= s.now }
            return due
        }
        for e in due { e.body() }
    }
}

/// The long polls' wake-up on a clock the test moves: no test here waits on the wall clock for
/// a timeout.
@Suite("Lease signal")
struct LeaseSignalTests {
    /// Yields until `condition` holds (bounded); records an issue if it never does.
    static func eventually(_ what: String, _ condition: () -> Bool) async {
        for _ in 0..<100_000 where !condition() { await Task.yield() }
        #expect(condition(), "\(what) did not happen")
    }

    /// Starts a wait in a task and lets it register with its timeout.
    static func waiting(
        _ signal: LeaseSignal, _ timeouts: ManualTimeouts, after generation: UInt64, connection: UInt64,
        timeout: Duration, expect count: Int
    ) async -> Task<Void, Never> {
        let task = Task { await signal.wait(after: generation, connectionID: connection, timeout: timeout) }
        await Self.eventually("the wait's registration") { signal.waiterCount == count && timeouts.pending == count }
        return task
    }

    @Test func aTimeoutEndsTheWaitWhenTheClockGetsThereAndNotBefore() async {
        let timeouts = ManualTimeouts()
        let signal = LeaseSignal(timeouts: timeouts)
        let wait = await Self.waiting(signal, timeouts, after: signal.generation, connection: 1, timeout: .seconds(30), expect: 1)
        timeouts.advance(by: .seconds(29))
        #expect(signal.waiterCount == 1, "29 s of 30: still waiting")
        timeouts.advance(by: .seconds(1))
        await wait.value
        #expect(signal.waiterCount == 0 && timeouts.pending == 0)
    }

    @Test func notifyWakesEveryWaiterAtOnceCancelsTheirTimeoutsAndMovesTheGeneration() async {
        let timeouts = ManualTimeouts()
        let signal = LeaseSignal(timeouts: timeouts)
        let g = signal.generation
        let a = await Self.waiting(signal, timeouts, after: g, connection: 1, timeout: .seconds(600), expect: 1)
        let b = await Self.waiting(signal, timeouts, after: g, connection: 2, timeout: .seconds(600), expect: 2)
        signal.notifyAll()
        await a.value
        await b.value
        #expect(signal.waiterCount == 0 && signal.generation == g + 1)
        #expect(timeouts.pending == 0, "the woken polls' timeouts are cancelled")
    }

    @Test func aSignalBetweenLookingAndWaitingIsNotLost() async {
        let timeouts = ManualTimeouts()
        let signal = LeaseSignal(timeouts: timeouts)
        let seen = signal.generation  // the poll looked for jobs as of this generation…
        signal.notifyAll()  // …a job became due before it started to wait
        await signal.wait(after: seen, connectionID: 1, timeout: .seconds(600))  // returns at once: no time passes
        #expect(signal.waiterCount == 0 && timeouts.pending == 0)
    }

    @Test func theEndOfAConnectionsInputEndsItsPollsOnlyAndKeepsLaterOnesFromWaiting() async {
        let timeouts = ManualTimeouts()
        let signal = LeaseSignal(timeouts: timeouts)
        let g = signal.generation
        let mine = await Self.waiting(signal, timeouts, after: g, connection: 7, timeout: .seconds(600), expect: 1)
        let theirs = await Self.waiting(signal, timeouts, after: g, connection: 8, timeout: .seconds(600), expect: 2)
        signal.connectionInputEnded(7)
        await mine.value
        #expect(signal.waiterCount == 1 && timeouts.pending == 1, "connection 8's poll still waits")
        #expect(signal.hasEnded(7) && !signal.hasEnded(8))
        await signal.wait(after: signal.generation, connectionID: 7, timeout: .seconds(600))  // at once
        signal.connectionClosed(7)
        #expect(!signal.hasEnded(7), "a closed connection is forgotten")
        timeouts.advance(by: .seconds(600))
        await theirs.value
        #expect(signal.waiterCount == 0)
    }
}
