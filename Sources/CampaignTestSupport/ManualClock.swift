import NIOConcurrencyHelpers

/// A clock that moves only when a test says so (the role of postgres-nio's `MockClock`): code
/// under test sleeps on it, and ``advance(by:)`` wakes every sleeper whose deadline it reaches,
/// so a test can tell "not yet" from "now" exactly, without waiting on the wall clock.
public final class ManualClock: Clock, Sendable {
    public struct Instant: InstantProtocol, Sendable {
        /// Time since the clock was made.
        public var offset: Duration

        public init(offset: Duration) { self.offset = offset }

        public func advanced(by duration: Duration) -> Instant { Instant(offset: self.offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - self.offset }
        public static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }

    private struct Sleeper {
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Int: Sleeper] = [:]
        /// Sleeps cancelled before their continuation was registered.
        var cancelled: Set<Int> = []
        var nextID = 0
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public var now: Instant { self.state.withLockedValue { $0.now } }
    public var minimumResolution: Duration { .nanoseconds(1) }

    /// How many sleeps are waiting for the clock right now.
    public var sleepers: Int { self.state.withLockedValue { $0.sleepers.count } }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        let id: Int? = self.state.withLockedValue { s in
            guard deadline > s.now else { return nil }
            s.nextID += 1
            return s.nextID
        }
        guard let id else { return try Task.checkCancellation() }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
                let resume: Result<Void, any Error>? = self.state.withLockedValue { s in
                    if s.cancelled.remove(id) != nil { return .failure(CancellationError()) }
                    if deadline <= s.now { return .success(()) }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: cont)
                    return nil
                }
                if let resume { cont.resume(with: resume) }
            }
        } onCancel: {
            let sleeper = self.state.withLockedValue { s -> Sleeper? in
                guard let sleeper = s.sleepers.removeValue(forKey: id) else {
                    s.cancelled.insert(id)
                    return nil
                }
                return sleeper
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock on and wakes the sleepers whose deadline it reached.
    public func advance(by duration: Duration) {
        let due = self.state.withLockedValue { s -> [Sleeper] in
            s.now = s.now.advanced(by: duration)
            let due = s.sleepers.filter { $0.value.deadline <= s.now }
            for id in due.keys { s.sleepers.removeValue(forKey: id) }
            return Array(due.values)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }
}
