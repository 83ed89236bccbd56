import CampaignCore
import CampaignMetrics
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// The coordinator's configuration. Only the executable reads flags and the environment.
public struct CoordinatorConfiguration: Sendable {
    /// Names this coordinator in lease owners (`<agent>@<coordinatorID>#<connection>`).
    public var coordinatorID: String
    /// Version reported by `health` and `agent.hello`.
    public var version: String
    /// How long a `jobs.lease` long poll may wait at most, whatever the client asks.
    public var maximumLeaseWait: Duration
    /// Idle long polls re-check the database this often even without a wake-up (due retries).
    public var fallbackPoll: Duration
    /// How often settings are re-read from the database (another coordinator may change them).
    public var settingsRefresh: Duration
    /// Most items per bulk call (`customers.upsert`, `jobs.enqueue`).
    public var maximumBulkItems: Int
    /// Who may call what.
    public var access: AccessPolicy
    /// This process's uid (the `self` subject of the access rules).
    public var ownUID: UInt32
    /// The server's connection cap, for `health` (nil: none).
    public var maximumConnections: Int?
    /// How long `health` waits for its database reads before it answers from the last known
    /// counts (and says the database is `unresponsive`).
    public var healthPatience: Duration = .milliseconds(900)

    public init(
        coordinatorID: String, version: String, maximumLeaseWait: Duration = .seconds(60),
        fallbackPoll: Duration = .seconds(2), settingsRefresh: Duration = .seconds(5), maximumBulkItems: Int = 10_000,
        access: AccessPolicy = .default, ownUID: UInt32 = getuid()
    ) {
        self.access = access
        self.ownUID = ownUID
        self.coordinatorID = coordinatorID
        self.version = version
        self.maximumLeaseWait = maximumLeaseWait
        self.fallbackPoll = fallbackPoll
        self.settingsRefresh = settingsRefresh
        self.maximumBulkItems = maximumBulkItems
    }
}

/// An agent connected to this coordinator.
public struct AgentSession: Sendable, Equatable {
    public var agentId: String
    public var capacity: Int
    public var version: String
    public var connectionID: UInt64
    public var peer: PeerCredentials?
    /// The `lease_owner` of every lease taken on this connection.
    public var leaseOwner: String
    public var connectedAt: Date
    /// Reports accepted on this connection.
    public var reports = 0
}

/// A group of methods, registered on the router together (hummingbird's `RouteCollection`):
/// one file per group under `Handlers/`.
protocol MethodGroup {
    func register(on router: RPCRouter)
}

/// The coordinator's shared parts: its store, the batchers that group agents' requests into
/// transactions, the settings cache, the long-poll signal, the agent sessions and what it knows
/// of the database and of leadership. The methods live in their groups (`Handlers/`: agents,
/// jobs, customers, automation, status); the periodic work in `Maintenance/`.
public final class Coordinator: Sendable {
    public let configuration: CoordinatorConfiguration
    public let store: PostgresJobStore
    public let signal: LeaseSignal
    /// What time it is, and the long polls' timeouts (a test's own clock in tests).
    let clock: CoordinatorClock
    /// The connections and the agents among them; the role check of every call.
    public let sessions: AgentSessions
    let logger: Logger
    let startedAt = ContinuousClock.now
    let settingsCache: SettingsCache
    /// What the last round trips saw of PostgreSQL (every store call reports to it).
    public let database: DatabaseHealth
    /// `health`'s reads, one at a time, and the last counts they gave.
    let healthReads = HealthReads()
    /// True while this coordinator holds the maintenance leader lock (see ``ControlService``).
    public let isLeader = NIOLockedValueBox(false)
    let timezones = NIOLockedValueBox<Set<String>?>(nil)
    /// Coalesces agent reports and dialing checks into one transaction per batch.
    let batcher: RequestBatcher<JobRequest, JobRequestOutcome>
    /// Coalesces the `jobs.lease` calls of every agent into one transaction per batch.
    let leases: RequestBatcher<LeaseRequest, LeaseAnswer>
    /// Set while a lease waits on a provider limit: reports (which end calls) then wake it.
    let providerLimited = NIOLockedValueBox(false)
    /// What `metrics` prints; the store tells it what each dispatch batch did, the router each request.
    public let metrics: CoordinatorMetrics
    /// The event outbox's pump and this coordinator's `events.subscribe` connections (a service
    /// the executable runs).
    public let events: EventHub
    /// Deletes what `retention` says has been kept long enough (the leader's, and `retention.prune`).
    public let retention: RetentionPruner

    public init(
        configuration: CoordinatorConfiguration, store: PostgresJobStore, logger: Logger, clock: CoordinatorClock = .system,
        metrics registry: MetricsRegistry? = nil
    ) {
        self.configuration = configuration
        self.clock = clock
        self.signal = LeaseSignal(timeouts: clock.timeouts)
        self.store = store
        self.logger = logger
        self.database = DatabaseHealth(logger: logger)
        self.sessions = AgentSessions(
            access: configuration.access, ownUID: configuration.ownUID, signal: self.signal, store: store)
        let settings = SettingsCache(store: store, refresh: configuration.settingsRefresh, now: clock.now)
        self.settingsCache = settings
        self.metrics = CoordinatorMetrics(registry: registry ?? MetricsRegistry(), campaignName: { settings.name(of: $0) })
        store.observe(with: self.metrics)
        // Reports and dialing checks: two batches at once (batches with dialing checks in them
        // still take turns on the dial-limits lock). Leases: one, as a lease with dial takes that
        // lock for its whole transaction.
        self.batcher = RequestBatcher(concurrency: 2) { requests in
            // The campaigns' settings of the moment, read (cached) when the batch is written.
            let b = try await settings.book()
            return try await store.apply(requests, retry: b.default.settings.retryPolicy, rules: b.dialRules)
        }
        self.leases = RequestBatcher { requests in
            let b = try await settings.book()
            return try await store.lease(requests, leaseSeconds: b.default.settings.leaseSeconds, rules: b.dialRules)
        }
        let leader = self.isLeader
        self.events = EventHub(store: store, logger: logger) { leader.withLockedValue { $0 } }
        self.retention = RetentionPruner(store: store, logger: logger)
    }

    /// Builds the dispatch table: every group's methods behind the sessions' role check.
    public func makeRouter() -> RPCRouter {
        let router = RPCRouter(
            observer: ConnectionObservers(sessions: self.sessions, events: self.events), gate: self.sessions,
            instrumentation: self.metrics)
        let groups: [any MethodGroup] = [
            StatusHandlers(coordinator: self), AgentHandlers(coordinator: self), JobHandlers(coordinator: self),
            CustomerHandlers(coordinator: self), AutomationHandlers(coordinator: self),
            CampaignHandlers(coordinator: self), CallHandlers(coordinator: self), EventHandlers(coordinator: self),
            RetentionHandlers(coordinator: self),
            SuppressionHandlers(coordinator: self), ReconcileHandlers(coordinator: self),
        ]
        for group in groups { group.register(on: router) }
        return router
    }

    /// The agents connected now, in the order they connected.
    public var connectedAgents: [AgentSession] { self.sessions.connected }

    /// What `health` answers.
    public func health() async -> Health.Result {
        await StatusHandlers(coordinator: self).health()
    }

    /// What `automation.run` does for the default campaign or `campaign` (`ctx` nil: the
    /// maintenance leader's scheduled run).
    public func runAutomation(dryRun: Bool, campaign: String? = nil, by ctx: RPCContext?) async throws -> RunAutomation.Result {
        _ = try await self.campaigns(fresh: true)
        return try await AutomationHandlers(coordinator: self).run(dryRun: dryRun, campaign: try await self.campaign(campaign), by: ctx)
    }

    /// How many requests each group commit of reports carried, most recent last (for tests and benchmarks).
    public var batchSizes: [Int] { self.batcher.batchSizes.withLockedValue { $0 } }

    /// New work may be due: wake this coordinator's long polls. (The store's writes that make
    /// jobs due also NOTIFY the other coordinators, in the same transaction.)
    func wakeLeasers() {
        self.signal.notifyAll()
    }

    /// The default campaign's settings, re-read from the database at most every `settingsRefresh`.
    public func settings(fresh: Bool = false) async throws -> AutomationSettings {
        try await self.db { try await self.settingsCache.get(fresh: fresh) }
    }

    /// Every campaign and its settings, re-read at most every `settingsRefresh`.
    func campaigns(fresh: Bool = false) async throws -> CampaignBook {
        try await self.db { try await self.settingsCache.book(fresh: fresh) }
    }

    /// The campaign called `name` (nil: the default one); NOT_FOUND when there is none. Read
    /// again from the database when this coordinator does not know the name yet.
    func campaign(_ name: String?) async throws -> CampaignRecord {
        guard let name, name != CampaignName.default else { return try await self.campaigns().default }
        if let c = try await self.campaigns()[name] { return c }
        if let c = try await self.campaigns(fresh: true)[name] { return c }
        throw RPCError(.notFound, "no campaign \(name)", details: ["campaign": .string(name)])
    }

    /// Runs a store call, turning database failures into wire errors (and logging the details).
    func db<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            let value = try await body()
            self.database.succeeded()
            return value
        } catch let error as StoreError {
            if error.isTransient {
                // Still deadlocked or conflicting after the pool's retries: the client may retry.
                self.logger.warning("database contention", metadata: ["error": "\(error)"])
                throw RPCError(.databaseUnavailable, "database busy, retry later")
            }
            if error.code == .timedOut {
                self.database.unreachable(error, during: "a request")
                throw RPCError(.databaseUnavailable, "the database did not answer in time, retry later")
            }
            if error.isUnavailable {
                self.database.unreachable(error, during: "a request")
                throw RPCError(.databaseUnavailable, "database unavailable, retry later")
            }
            self.logger.error("database error", metadata: ["error": "\(error.debugDescription)"])
            throw RPCError(.internalError, "internal error")
        }
    }

    /// IANA names both Foundation and this PostgreSQL know (read once: a tz change needs a restart).
    ///
    /// Foundation is asked name by name (`TimeZone(identifier:)`), not through its list of known
    /// identifiers: on Linux that list lacks current names it does resolve, such as Asia/Kolkata.
    func knownTimezones() async throws -> Set<String> {
        if let z = self.timezones.withLockedValue({ $0 }) { return z }
        let pg = try await self.db { try await self.store.timezoneNames() }
        let known = pg.filter { TimeZone(identifier: $0) != nil }
        self.timezones.withLockedValue { $0 = known }
        return known
    }
}

/// The router's one connection observer, telling the agent sessions and the event subscriptions.
struct ConnectionObservers: RPCConnectionObserver {
    let sessions: AgentSessions
    let events: EventHub

    func connectionOpened(_ context: RPCContext) async { await self.sessions.connectionOpened(context) }
    func connectionInputEnded(_ context: RPCContext) async {
        // The client stopped sending; it may still read, so its subscriptions go on until it closes.
        await self.sessions.connectionInputEnded(context)
    }
    func connectionClosed(_ context: RPCContext) async {
        self.events.connectionClosed(context.connectionID)
        await self.sessions.connectionClosed(context)
    }
}
