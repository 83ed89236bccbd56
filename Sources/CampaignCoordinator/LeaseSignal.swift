import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Runs a closure after a delay unless cancelled: the clock of the long polls' timeouts (an
/// event loop's timers in the coordinator, a clock the test moves in tests).
public protocol TimeoutScheduler: Sendable {
    /// Schedules `body` in `delay`; answers what cancels it.
    func schedule(in delay: Duration, _ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void
}

/// Timeouts on a NIO event loop's timers.
public struct EventLoopTimeouts: TimeoutScheduler {
    let eventLoop: any EventLoop

    public init(eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any()) {
        self.eventLoop = eventLoop
    }

    public func schedule(in delay: Duration, _ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
        let nanos = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        let task = self.eventLoop.scheduleTask(in: .nanoseconds(max(0, nanos))) { body() }
        return { task.cancel() }
    }
}

/// The coordinator's clock: what time it is, and its timeouts. The system's in production; a
/// test passes one it moves, so a long poll's fallback re-check and its deadline happen when the
/// test says.
public struct CoordinatorClock: Sendable {
    public var now: @Sendable () -> ContinuousClock.Instant
    public var timeouts: any TimeoutScheduler

    public init(now: @escaping @Sendable () -> ContinuousClock.Instant, timeouts: any TimeoutScheduler) {
        self.now = now
        self.timeouts = timeouts
    }

    /// `ContinuousClock` and the event loops' timers.
    public static var system: CoordinatorClock { CoordinatorClock(now: { .now }, timeouts: EventLoopTimeouts()) }
}

/// Wakes long-polling `jobs.lease` calls when work may be available, without polling the
/// database in a loop.
///
/// A waiter takes the current `generation` before it looks for jobs and waits only if nothing
/// was signalled since, so a wake-up between "found nothing" and "started waiting" is never lost.
public final class LeaseSignal: Sendable {
    private struct Waiter {
        var connectionID: UInt64
        var continuation: CheckedContinuation<Void, Never>
        var cancelTimer: (@Sendable () -> Void)?
    }

    private struct State {
        var generation: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        /// Connections whose input ended: their polls return at once.
        var endedConnections: Set<UInt64> = []
    }

    private let state = NIOLockedValueBox(State())
    private let timeouts: any TimeoutScheduler

    public init(timeouts: any TimeoutScheduler = EventLoopTimeouts()) {
        self.timeouts = timeouts
    }

    public var generation: UInt64 { self.state.withLockedValue { $0.generation } }

    public var waiterCount: Int { self.state.withLockedValue { $0.waiters.count } }

    /// Waits until `notifyAll`, the timeout, or the end of the connection's input —
    /// returning at once if a signal came after `generation` was read.
    public func wait(after generation: UInt64, connectionID: UInt64, timeout: Duration) async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let id: UInt64? = self.state.withLockedValue { s in
                if s.generation != generation || s.endedConnections.contains(connectionID) { return nil }
                s.nextWaiter += 1
                s.waiters[s.nextWaiter] = Waiter(connectionID: connectionID, continuation: cont, cancelTimer: nil)
                return s.nextWaiter
            }
            guard let id else {
                cont.resume()
                return
            }
            let cancel = self.timeouts.schedule(in: timeout) { self.wake(id) }
            let fired = self.state.withLockedValue { s -> Bool in
                guard s.waiters[id] != nil else { return true }
                s.waiters[id]!.cancelTimer = cancel
                return false
            }
            if fired { cancel() }
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
            w.cancelTimer?()
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
            w.cancelTimer?()
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
