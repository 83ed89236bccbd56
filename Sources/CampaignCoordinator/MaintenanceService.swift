import CampaignProtocol
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SystemdNotify

/// The coordinator's periodic work: renew the leases of connected agents (one statement for
/// all of them), expire lapsed leases as the state machine decides, and keep `STATUS=` current.
///
/// Renewal runs on every coordinator (each renews its own agents' leases); the expiry sweep runs
/// on the maintenance leader only (it would be safe anywhere — `SKIP LOCKED` plus the state
/// machine's compare-and-set — but one sweeper is less work for the database).
public final class MaintenanceService: Service, Sendable {
    private let coordinator: Coordinator
    private let logger: Logger
    private let notifier: SystemdNotifier
    /// Last tick of the loop, for the watchdog's liveness check.
    public let lastTick = NIOLockedValueBox(ContinuousClock.now)
    private let lastAutoRun = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    private let lastPrune = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    private let lastStatus = NIOLockedValueBox("")
    private let lastHealth = NIOLockedValueBox<Health.Result?>(nil)

    /// Test hook: stop ticking (as a hung loop would) this long after start.
    private let wedgeAfter: Duration?

    public init(
        coordinator: Coordinator, logger: Logger, notifier: SystemdNotifier = SystemdNotifier(),
        wedgeAfter: Duration? = nil
    ) {
        self.coordinator = coordinator
        self.logger = logger
        self.notifier = notifier
        self.wedgeAfter = wedgeAfter
    }

    /// Sends `STATUS=` when the summary changed. `recount` reads the queue counts from the
    /// database (each maintenance tick); without it (an agent came or went) the last counts are
    /// reused with the current number of agents, so a burst of reconnects costs no table scans.
    public func refreshStatus(recount: Bool = true) async {
        let status: String
        if recount {
            let health = try? await self.coordinator.health()
            self.lastHealth.withLockedValue { $0 = health }
            status = self.statusLine(health)
        } else {
            var health = self.lastHealth.withLockedValue { $0 }
            health?.agents = self.coordinator.connectedAgents.count
            status = self.statusLine(health)
        }
        let changed = self.lastStatus.withLockedValue { last -> Bool in
            defer { last = status }
            return last != status
        }
        if changed { self.notifier.status(status) }
    }

    public func run() async throws {
        let started = ContinuousClock.now
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            if let wedge = self.wedgeAfter, ContinuousClock.now - started > wedge {
                self.logger.warning("test hook: maintenance loop wedged")
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(86_400)) }
                return
            }
            self.lastTick.withLockedValue { $0 = ContinuousClock.now }
            let settings = (try? await self.coordinator.settings()) ?? AutomationSettings()
            await self.tick(leaseSeconds: settings.leaseSeconds)
            await self.refreshStatus()
            // Renew well before expiry: three times per lease period, between once a second and every 10 s.
            let interval = Duration.milliseconds(min(10_000, max(1000, settings.leaseSeconds * 1000 / 3)))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One round: renew the leases of this coordinator's agents; on the leader, expire lapsed leases.
    public func tick(leaseSeconds: Int) async {
        let owners = self.coordinator.connectedAgents.map(\.leaseOwner)
        do {
            try await self.coordinator.store.renewLeases(owners: owners, leaseSeconds: leaseSeconds)
            guard self.coordinator.isLeader.withLockedValue({ $0 }) else { return }
            await self.autoRunIfDue()
            try await self.pruneIfDue()
            let expired = try await self.coordinator.store.expireLeases()
            if !expired.isEmpty {
                self.logger.notice("leases expired", metadata: ["jobs": "\(expired.count)"])
                self.coordinator.wakeLeasers()
            }
            self.coordinator.databaseUp.withLockedValue { $0 = true }
        } catch {
            self.coordinator.databaseUp.withLockedValue { $0 = false }
            self.logger.warning("maintenance failed", metadata: ["error": "\(error)"])
        }
    }

    /// On the leader, with automation enabled: `automation.run` every `autoRunIntervalSeconds`
    /// (the first one at once). Disabling takes effect at the next tick.
    func autoRunIfDue() async {
        guard let s = try? await self.coordinator.settings(), s.enabled else { return }
        let due = self.lastAutoRun.withLockedValue { last in
            guard let last, ContinuousClock.now - last < .seconds(s.autoRunIntervalSeconds) else { return true }
            return false
        }
        guard due else { return }
        self.lastAutoRun.withLockedValue { $0 = ContinuousClock.now }
        do {
            _ = try await self.coordinator.runAutomation(dryRun: false, by: nil)
        } catch {
            self.logger.warning("automatic run failed", metadata: ["error": "\(error)"])
        }
    }

    /// On the leader, once an hour: forget call-start counters older than three days (the cap
    /// and the rate limit look at today and the last 100 s at most).
    func pruneIfDue() async throws {
        let due = self.lastPrune.withLockedValue { last -> Bool in
            if let l = last, ContinuousClock.now - l < .seconds(3600) { return false }
            last = ContinuousClock.now
            return true
        }
        if due { try await self.coordinator.store.pruneDialCounters(olderThanDays: 3) }
    }

    func statusLine(_ h: Health.Result?) -> String {
        guard let h, h.database == "up" else {
            return "agents \(self.coordinator.connectedAgents.count) · database UNREACHABLE"
        }
        let role = h.leader ? " · leader" : ""
        return "agents \(h.agents) · queued \(h.queue.QUEUED) · active \(h.queue.ACTIVE) · done today \(h.completedToday) · database up\(role)"
    }
}
