import CampaignProtocol
import CampaignStore
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SystemdNotify

/// The coordinator's periodic work, one duty per type, run in rounds (River's queue maintainer):
///
/// | duty | where | how often |
/// |---|---|---|
/// | ``LeaseRenewer`` | every coordinator | each round |
/// | ``AutomationScheduler`` | leader | `autoRunIntervalSeconds`, per ACTIVE campaign while enabled |
/// | campaign ends | leader | each round: campaigns past `endsAt` end, ended campaigns' QUEUED jobs are SKIPPED |
/// | ``DialCounterPruner`` | leader | hourly |
/// | ``LeaseExpirer`` | leader | each round |
/// | ``RetentionPruner`` | leader | hourly, in the background: deletes what `retention` says has been kept long enough |
/// | ``StatusReporter`` | every coordinator | each round (and when agents come and go) |
///
/// A round is three times per lease period, between once a second and every 10 s. A duty that
/// fails is logged and does not keep the others from running; the database's state is reported to
/// ``DatabaseHealth``.
public final class MaintenanceService: Service, Sendable {
    private let coordinator: Coordinator
    private let logger: Logger
    public let renewer: LeaseRenewer
    public let expirer: LeaseExpirer
    public let scheduler: AutomationScheduler
    public let pruner: DialCounterPruner
    public let retention: RetentionPruner
    public let status: StatusReporter
    /// Last round of the loop, for the watchdog's liveness check.
    public let lastTick = NIOLockedValueBox(ContinuousClock.now)

    /// Test hook: stop ticking (as a hung loop would) this long after start.
    private let wedgeAfter: Duration?

    public init(
        coordinator: Coordinator, logger: Logger, notifier: SystemdNotifier = SystemdNotifier(),
        wedgeAfter: Duration? = nil
    ) {
        self.coordinator = coordinator
        self.logger = logger
        self.wedgeAfter = wedgeAfter
        let store = coordinator.store
        self.renewer = LeaseRenewer(store: store) { coordinator.connectedAgents.map(\.leaseOwner) }
        self.expirer = LeaseExpirer(store: store, logger: logger) { coordinator.wakeLeasers() }
        self.scheduler = AutomationScheduler(logger: logger) {
            try await coordinator.runAutomation(dryRun: false, campaign: $0, by: nil)
        }
        self.pruner = DialCounterPruner(store: store)
        self.retention = coordinator.retention
        self.status = StatusReporter(
            send: { notifier.status($0) }, health: { await coordinator.health() },
            agents: { coordinator.sessions.count },
            database: {
                let (condition, since) = coordinator.database.condition
                return (condition.rawValue, since.map(Timestamp.string))
            })
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
            await self.status.refresh()
            let interval = Duration.milliseconds(min(10_000, max(1000, settings.leaseSeconds * 1000 / 3)))
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One round at `now`: renew this coordinator's agents' leases; on the leader, the automatic
    /// run when due, the counter prune when due, and the expiry sweep.
    public func tick(leaseSeconds: Int, at now: ContinuousClock.Instant = .now) async {
        // Unreachable: the rest of the round would only wait for the same failure.
        guard await self.perform("lease renewal", { try await self.renewer.runOnce(leaseSeconds: leaseSeconds) }),
            self.coordinator.isLeader.withLockedValue({ $0 })
        else { return }
        await self.perform("campaign ends") { try await self.endCampaigns() }
        if let book = try? await self.coordinator.campaigns() {
            for c in book.campaigns where c.status == .active {
                await self.scheduler.runOnce(settings: c.settings, campaign: c.name, at: now)
            }
        }
        guard await self.perform("dial counter prune", { try await self.pruner.runOnce(at: now) }) else { return }
        await self.perform("lease expiry") { try await self.expirer.runOnce() }
        if let settings = try? await self.coordinator.settings() {
            self.retention.startIfDue(settings.retention.policy, at: now)
        }
    }

    /// Ends the campaigns whose `endsAt` has passed and SKIPs the QUEUED jobs of ended ones.
    private func endCampaigns() async throws {
        let c = self.coordinator
        let (campaigns, jobs) = try await c.store.endOverdueCampaigns(by: "coordinator:endsAt")
        if campaigns > 0 {
            c.settingsCache.invalidate()
            self.logger.notice("campaigns ended at their endsAt", metadata: ["campaigns": "\(campaigns)"])
        }
        if jobs > 0 { self.logger.notice("queued jobs of ended campaigns skipped", metadata: ["jobs": "\(jobs)"]) }
    }

    /// Runs one duty, reporting the database's state and logging a failure. Returns false when
    /// the database was unreachable.
    @discardableResult
    private func perform<T: Sendable>(_ duty: String, _ body: () async throws -> T) async -> Bool {
        do {
            _ = try await body()
            self.coordinator.database.succeeded()
        } catch let error as StoreError where error.isUnavailable {
            self.coordinator.database.unreachable(error, during: duty)
            return false
        } catch {
            self.logger.warning("maintenance failed", metadata: ["duty": "\(duty)", "error": "\(error)"])
        }
        return true
    }
}
