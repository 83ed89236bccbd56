import NIOConcurrencyHelpers

/// A counting semaphore whose waiters are served in order (the report backlog).
final class Permits: Sendable {
    private struct State {
        var free: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
        var head = 0
    }
    private let state: NIOLockedValueBox<State>

    init(_ count: Int) {
        self.state = NIOLockedValueBox(State(free: count))
    }

    /// Callers waiting for a place (for tests).
    var waitingCount: Int { self.state.withLockedValue { $0.waiters.count - $0.head } }

    func acquire() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let now: Bool = self.state.withLockedValue { s in
                if s.free > 0 {
                    s.free -= 1
                    return true
                }
                s.waiters.append(cont)
                return false
            }
            if now { cont.resume() }
        }
    }

    func release() {
        let next: CheckedContinuation<Void, Never>? = self.state.withLockedValue { s in
            guard s.head < s.waiters.count else {
                s.free += 1
                return nil
            }
            defer {
                s.head += 1
                if s.head == s.waiters.count {
                    s.waiters.removeAll(keepingCapacity: true)
                    s.head = 0
                }
            }
            return s.waiters[s.head]
        }
        next?.resume()
    }
}
