import CampaignProtocol
import CampaignRPC
import CampaignStore
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// The push side of the event outbox (migration 0011): numbers committed events and delivers
/// them to this coordinator's `events.subscribe` connections.
///
/// - The pump (this service's `run`) numbers new events every `interval` — on the maintenance
///   leader always (so events are numbered even when nobody listens), elsewhere while this
///   coordinator has subscribers; one coordinator numbers at a time (the store's lock), the
///   others then read how far it got. Each time the newest eventId moves, it wakes the
///   subscriptions.
/// - A subscription is a task of its own, with its own cursor: it reads pages of events after
///   its cursor from PostgreSQL (of its campaign, or all) and writes them as `events.job`
///   notifications. A slow client holds only its own task (the connection's back-pressure); a
///   subscriber far behind reads the outbox page by page, as one reconnecting with an old
///   `after` does. Nothing is held in memory per event.
public final class EventHub: Service, Sendable {
    private struct Subscription {
        var connectionID: UInt64
        var task: Task<Void, Never>
    }

    private struct State {
        /// The newest eventId this coordinator knows to be numbered (and committed).
        var head: Int64 = 0
        var nextID: Int64 = 0
        var subscriptions: [Int64: Subscription] = [:]
        var nextWaiter: UInt64 = 0
        /// Subscriptions waiting for the head to pass their cursor.
        var waiters: [UInt64: (after: Int64, continuation: CheckedContinuation<Void, Never>)] = [:]
    }

    private let state = NIOLockedValueBox(State())
    private let store: PostgresJobStore
    private let logger: Logger
    private let isLeader: @Sendable () -> Bool
    /// How often the pump numbers and looks for new events.
    public let interval: Duration
    /// Events per page read for a subscription, and per numbering statement.
    static let pageSize = 500
    static let numberingBatch = 5000
    /// Subscriptions one connection may hold.
    public static let maximumPerConnection = 16

    init(store: PostgresJobStore, logger: Logger, interval: Duration = .milliseconds(100), isLeader: @escaping @Sendable () -> Bool) {
        self.store = store
        self.logger = logger
        self.interval = interval
        self.isLeader = isLeader
    }

    /// Subscriptions open on this coordinator.
    public var subscriberCount: Int { self.state.withLockedValue { $0.subscriptions.count } }

    // MARK: The pump

    public func run() async throws {
        var failing = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var again = false
            if self.isLeader() || self.subscriberCount > 0 {
                do {
                    again = try await self.pumpOnce()
                    if failing { self.logger.info("event numbering works again") }
                    failing = false
                } catch {
                    if !failing { self.logger.warning("event numbering failed", metadata: ["error": "\(error)"]) }
                    failing = true
                }
            }
            if again { continue }
            let pause = failing ? Duration.seconds(1) : self.interval
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
        }
        for s in self.state.withLockedValue({ Array($0.subscriptions.values) }) { s.task.cancel() }
    }

    /// Numbers what is new (or, when another coordinator is numbering, reads how far it got) and
    /// wakes the subscriptions. Returns true when there may be more to number right away.
    @discardableResult
    public func pumpOnce() async throws -> Bool {
        if let numbered = try await self.store.numberEvents(limit: Self.numberingBatch) {
            self.advance(to: numbered.last)
            return numbered.count == Self.numberingBatch
        }
        self.advance(to: try await self.store.eventBounds().last)
        return false
    }

    private func advance(to head: Int64) {
        let woken = self.state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
            guard head > s.head else { return [] }
            s.head = head
            let due = s.waiters.filter { $0.value.after < head }
            for k in due.keys { s.waiters.removeValue(forKey: k) }
            return due.values.map(\.continuation)
        }
        for c in woken { c.resume() }
    }

    /// Returns once the head passed `after` (at once if it has), or the task was cancelled.
    private func waitForHead(above after: Int64) async {
        let key = self.state.withLockedValue { s -> UInt64 in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = self.state.withLockedValue { s -> Bool in
                    if s.head > after || Task.isCancelled { return true }
                    s.waiters[key] = (after, c)
                    return false
                }
                if now { c.resume() }
            }
        } onCancel: {
            self.state.withLockedValue { $0.waiters.removeValue(forKey: key) }?.continuation.resume()
        }
    }

    // MARK: Subscriptions

    /// Starts delivering to `push` the events after `after` (nil: after the newest), of the
    /// campaign `campaignId` (nil: all).
    ///
    /// - Throws: NOT_FOUND when retention already deleted events after `after`; INVALID_STATE
    ///   when `after` is beyond the newest event (a cursor from another database, or from before
    ///   a restore); LIMIT_EXCEEDED past ``maximumPerConnection``.
    func subscribe(
        after: Int64?, campaignId: Int64?, push: RPCPush, context: RPCContext
    ) async throws -> SubscribeEvents.Result {
        let held = self.state.withLockedValue { s in s.subscriptions.values.filter { $0.connectionID == context.connectionID }.count }
        guard held < Self.maximumPerConnection else {
            throw RPCError(
                .limitExceeded, "more than \(Self.maximumPerConnection) subscriptions on this connection",
                details: ["limit": "subscriptions", "maximum": .int(Int64(Self.maximumPerConnection))])
        }
        // Number what is committed first: "from now on" then starts after the changes the
        // client just made, not before some of them.
        try await self.pumpOnce()
        let bounds = try await self.store.eventBounds()
        self.advance(to: bounds.last)
        let start = after ?? bounds.last
        if bounds.misses(after: start) {
            throw RPCError(
                .notFound, "events after \(start) are no longer kept (retention); the oldest kept is \(bounds.oldest.map(String.init) ?? "none")",
                details: ["after": .int(start), "oldest": bounds.oldest.map { .int($0) } ?? .null, "head": .int(bounds.last)])
        }
        if start > bounds.last {
            throw RPCError(
                .invalidState, "after \(start) is beyond the newest event \(bounds.last): a cursor of another database?",
                details: ["after": .int(start), "head": .int(bounds.last)])
        }
        let id = self.state.withLockedValue { s -> Int64 in
            s.nextID += 1
            return s.nextID
        }
        var logger = context.logger
        logger[metadataKey: "subscription"] = "\(id)"
        let task = Task {
            await self.deliver(id: id, after: start, campaignId: campaignId, push: push, logger: logger)
        }
        self.state.withLockedValue { $0.subscriptions[id] = Subscription(connectionID: context.connectionID, task: task) }
        logger.info("events subscribed", metadata: ["after": "\(start)", "campaign.id": "\(campaignId.map(String.init) ?? "all")"])
        return SubscribeEvents.Result(subscription: id, after: start, head: bounds.last)
    }

    /// Stops a subscription of this connection; false when it has none of that id.
    func unsubscribe(_ id: Int64, connectionID: UInt64) -> Bool {
        let sub = self.state.withLockedValue { s -> Subscription? in
            guard s.subscriptions[id]?.connectionID == connectionID else { return nil }
            return s.subscriptions.removeValue(forKey: id)
        }
        sub?.task.cancel()
        return sub != nil
    }

    /// The connection is gone: its subscriptions end.
    func connectionClosed(_ connectionID: UInt64) {
        let gone = self.state.withLockedValue { s -> [Subscription] in
            let ids = s.subscriptions.filter { $0.value.connectionID == connectionID }.map(\.key)
            return ids.compactMap { s.subscriptions.removeValue(forKey: $0) }
        }
        for s in gone { s.task.cancel() }
    }

    private func deliver(id: Int64, after: Int64, campaignId: Int64?, push: RPCPush, logger: Logger) async {
        var cursor = after
        defer { _ = self.state.withLockedValue { $0.subscriptions.removeValue(forKey: id) } }
        while !Task.isCancelled {
            let head = self.state.withLockedValue { $0.head }
            guard cursor < head else {
                await self.waitForHead(above: cursor)
                continue
            }
            let page: [JobEvent]
            do {
                page = try await self.store.events(after: cursor, campaignId: campaignId, limit: Self.pageSize)
            } catch {
                if Task.isCancelled { return }
                logger.warning("reading events failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            if !page.isEmpty {
                do {
                    try await push.notify(method: JobEvent.notification, page.map { e in
                        var e = e
                        e.subscription = id
                        return e
                    })
                } catch {
                    logger.debug("subscriber gone", metadata: ["error": "\(error)"])
                    return
                }
                cursor = page[page.count - 1].eventId
            }
            // A short page holds every matching event up to the head read before it.
            if page.count < Self.pageSize { cursor = max(cursor, head) }
        }
    }
}
