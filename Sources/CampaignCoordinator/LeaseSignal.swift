import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Wakes long-polling `jobs.lease` calls when work may be available, without polling the
/// database in a loop.
///
/// A waiter takes the current `generation` before it looks for jobs and waits only if nothing
/// was signalled since, so a wake-up between "found nothing" and "started waiting" is never lost.
public final class LeaseSignal: Sendable {
    private struct Waiter {
        var connectionID: UInt64
        var continuation: CheckedContinuation<Void, Never>
        var timer: Scheduled<Void>?
    }

    private struct State {
        var generation: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        /// Connections whose input ended: their polls return at once.
        var endedConnections: Set<UInt64> = []
    }

    private let state = NIOLockedValueBox(State())
    private let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any()) {
        self.eventLoop = eventLoop
    }

    public var generation: UInt64 { self.state.withLockedValue { $0.generation } }

    public var waiterCount: Int { self.state.withLockedValue { $0.waiters.count } }

    /// Waits until `notifyAll`, the timeout, or the end of the connection's input —
    /// returning at once if a signal came after `generation` was read.
    public func wait(after generation: UInt64, connectionID: UInt64, timeout: Duration) async {
        let nanos = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let id: UInt64? = self.state.withLockedValue { s in
                if s.generation != generation || s.endedConnections.contains(connectionID) { return nil }
                s.nextWaiter += 1
                s.waiters[s.nextWaiter] = Waiter(connectionID: connectionID, continuation: cont, timer: nil)
                return s.nextWaiter
            }
            guard let id else {
                cont.resume()
                return
            }
            let timer = self.eventLoop.scheduleTask(in: .nanoseconds(max(0, nanos))) { self.wake(id) }
            let fired = self.state.withLockedValue { s -> Bool in
                guard s.waiters[id] != nil else { return true }
                s.waiters[id]!.timer = timer
                return false
            }
            if fired { timer.cancel() }
        }
    }

    /// Wakes every waiter (new jobs may be due).
    public func notifyAll() {
        let woken = self.state.withLockedValue { s -> [Waiter] in
            s.generation &+= 1
            let w = Array(s.waiters.values)
            s.waiters.removeAll()
            return w
        }
        for w in woken {
            w.timer?.cancel()
            w.continuation.resume()
        }
    }

    /// The connection stopped sending: its polls return now, and later ones do not wait.
    public func connectionInputEnded(_ connectionID: UInt64) {
        let woken = self.state.withLockedValue { s -> [Waiter] in
            s.endedConnections.insert(connectionID)
            let ids = s.waiters.filter { $0.value.connectionID == connectionID }.map(\.key)
            return ids.compactMap { s.waiters.removeValue(forKey: $0) }
        }
        for w in woken {
            w.timer?.cancel()
            w.continuation.resume()
        }
    }

    public func connectionClosed(_ connectionID: UInt64) {
        self.state.withLockedValue { _ = $0.endedConnections.remove(connectionID) }
    }

    public func hasEnded(_ connectionID: UInt64) -> Bool {
        self.state.withLockedValue { $0.endedConnections.contains(connectionID) }
    }

    private func wake(_ id: UInt64) {
        let w = self.state.withLockedValue { $0.waiters.removeValue(forKey: id) }
        w?.continuation.resume()
    }
}
