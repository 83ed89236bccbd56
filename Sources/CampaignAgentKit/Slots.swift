import NIOConcurrencyHelpers

/// Free call slots: the lease loop takes all that are free, finished calls give theirs back.
final class Slots: Sendable {
    private struct State {
        var free: Int
        var closed = false
        var waiter: CheckedContinuation<Int, Never>?
    }
    private let state: NIOLockedValueBox<State>

    init(capacity: Int) {
        self.state = NIOLockedValueBox(State(free: capacity))
    }

    /// Waits for at least one free slot and takes every free one; 0 once closed.
    func acquireAvailable() async -> Int {
        await withCheckedContinuation { (cont: CheckedContinuation<Int, Never>) in
            let n: Int? = self.state.withLockedValue { s in
                if s.closed { return 0 }
                if s.free > 0 {
                    defer { s.free = 0 }
                    return s.free
                }
                s.waiter = cont
                return nil
            }
            if let n { cont.resume(returning: n) }
        }
    }

    /// Takes every free slot without waiting (0 when none is free or once closed).
    func takeAvailable() -> Int {
        self.state.withLockedValue { s in
            if s.closed || s.free <= 0 { return 0 }
            defer { s.free = 0 }
            return s.free
        }
    }

    func release(_ n: Int) {
        guard n > 0 else { return }
        let resume: (CheckedContinuation<Int, Never>, Int)? = self.state.withLockedValue { s in
            s.free += n
            guard s.free > 0, let w = s.waiter, !s.closed else { return nil }
            s.waiter = nil
            defer { s.free = 0 }
            return (w, s.free)
        }
        if let (w, n) = resume { w.resume(returning: n) }
    }

    /// Takes `n` slots whether free or not (the calls an earlier run left in progress, which are
    /// followed whatever the capacity): free slots may go below zero, and leasing waits until the
    /// calls that end bring them back above it.
    func borrow(_ n: Int) {
        self.state.withLockedValue { $0.free -= n }
    }

    func close() {
        let w = self.state.withLockedValue { s -> CheckedContinuation<Int, Never>? in
            s.closed = true
            defer { s.waiter = nil }
            return s.waiter
        }
        w?.resume(returning: 0)
    }
}
