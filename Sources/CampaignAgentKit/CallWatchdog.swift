import NIOConcurrencyHelpers

/// The hard limit of every call, kept by one watchdog instead of a timer and a task group per
/// call (those were ≈ 9 % of a busy agent's CPU, issue 11). ``run(within:_:)`` runs its body
/// in a task of its own and answers its result, or nil once the limit passed: the body's task
/// is then cancelled and abandoned, whether or not it honours the cancellation. The watchdog
/// task runs only while calls are watched and looks at their deadlines every `tick` of its clock
/// (the continuous clock in the agent; tests move a manual one).
public final class CallWatchdog<C: Clock>: Sendable where C.Duration == Duration {
    private final class Watched: Sendable {
        struct State {
            var continuation: CheckedContinuation<PlacedCall?, Never>?
            var task: Task<Void, Never>?
            var done = false
            var cancelled = false
        }
        let deadline: C.Instant
        let state = NIOLockedValueBox(State())

        init(deadline: C.Instant) { self.deadline = deadline }

        /// Resumes the waiting caller once; the later of the body and the watchdog finds it done.
        func finish(_ result: PlacedCall?) {
            let (cont, task): (CheckedContinuation<PlacedCall?, Never>?, Task<Void, Never>?) = self.state.withLockedValue { s in
                guard !s.done else { return (nil, nil) }
                s.done = true
                defer { s.continuation = nil }
                return (s.continuation, result == nil ? s.task : nil)
            }
            task?.cancel()
            cont?.resume(returning: result)
        }

        func cancel() {
            self.state.withLockedValue { s -> Task<Void, Never>? in
                s.cancelled = true
                return s.task
            }?.cancel()
        }

        /// Starts the body unless the watchdog finished the call already.
        func start(_ cont: CheckedContinuation<PlacedCall?, Never>, _ body: @escaping @Sendable () async -> PlacedCall) {
            let finished = self.state.withLockedValue { s -> Bool in
                if !s.done { s.continuation = cont }
                return s.done
            }
            if finished { return cont.resume(returning: nil) }
            let task = Task { self.finish(await body()) }
            let cancel = self.state.withLockedValue { s -> Bool in
                s.task = task
                return s.cancelled || (s.done && s.continuation == nil)
            }
            if cancel { task.cancel() }
        }
    }

    private struct State {
        var watched: [Int: Watched] = [:]
        var nextID = 0
        var watching = false
    }
    private let state = NIOLockedValueBox(State())
    private let tick: Duration
    private let clock: C

    public init(tick: Duration = .seconds(1), clock: C) {
        self.tick = tick
        self.clock = clock
    }

    /// Calls watched right now.
    public var count: Int { self.state.withLockedValue { $0.watched.count } }

    /// The body's result, or nil when it did not return within `limit`. Cancelling the caller
    /// cancels the body (which should then return soon; the caller waits for it).
    public func run(within limit: Duration, _ body: @escaping @Sendable () async -> PlacedCall) async -> PlacedCall? {
        let watched = Watched(deadline: self.clock.now.advanced(by: limit))
        let (id, startWatching) = self.state.withLockedValue { s -> (Int, Bool) in
            s.nextID &+= 1
            s.watched[s.nextID] = watched
            defer { s.watching = true }
            return (s.nextID, !s.watching)
        }
        if startWatching { Task { await self.watch() } }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<PlacedCall?, Never>) in
                watched.start(cont, body)
            }
        } onCancel: {
            watched.cancel()
        }
        self.state.withLockedValue { _ = $0.watched.removeValue(forKey: id) }
        return result
    }

    /// Finishes the calls past their deadline every tick; ends when nothing is watched.
    private func watch() async {
        while true {
            try? await self.clock.sleep(for: self.tick)
            let now = self.clock.now
            let expired: [Watched]? = self.state.withLockedValue { s in
                if s.watched.isEmpty {
                    s.watching = false
                    return nil
                }
                return s.watched.values.filter { $0.deadline <= now }
            }
            guard let expired else { return }
            for w in expired { w.finish(nil) }
        }
    }
}

extension CallWatchdog where C == ContinuousClock {
    public convenience init(tick: Duration = .seconds(1)) {
        self.init(tick: tick, clock: ContinuousClock())
    }
}
