import ArgumentParser
import CampaignCoordinator
import CampaignMetrics
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging
import ServiceLifecycle
import SystemdNotify

@main
struct CampaignCoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign-coordinator",
        abstract: "Owns the campaign's state in PostgreSQL and serves JSON-RPC 2.0 to agents and admins.")

    @Option(help: "Unix socket path to bind when not socket-activated (env CAMPAIGN_SOCKET).")
    var socket: String = ProcessInfo.processInfo.environment["CAMPAIGN_SOCKET"] ?? "/run/campaign/coordinator.sock"

    @Option(
        name: .customLong("database-url"),
        help: "libpq connection URI (env CAMPAIGN_DATABASE_URL, or the `database-url` systemd credential).")
    var databaseURL: String?

    @Option(help: "Database connections (and threads for them).")
    var poolSize: Int = 4

    @Flag(inversion: .prefixedNo, help: "Apply schema migrations at start-up.")
    var migrate: Bool = true

    @Option(help: "Seconds without a maintenance tick after which the watchdog stops pinging (systemd then restarts us).")
    var livenessTimeout: Int = 90

    @Option(help: ArgumentHelp("Test hook: wedge the maintenance loop after this many seconds.", visibility: .hidden))
    var testWedgeAfter: Int?

    @Option(help: ArgumentHelp(
        "Test hook: milliseconds health waits for the database before answering from the last known state (900).",
        visibility: .hidden))
    var testHealthPatience: Int?

    @Option(help: ArgumentHelp(
        "Who may call what: WHO=ROLE rules, first match wins (env CAMPAIGN_ACCESS).",
        discussion: """
            WHO: root, self (the coordinator's user), uid:N, user:NAME, gid:N, group:NAME (primary or \
            supplementary, from the group database), *. ROLE: admin, agent, reader, none. \
            Default: \(AccessPolicy.defaultText)
            """,
        valueName: "rules"))
    var access: String = ProcessInfo.processInfo.environment["CAMPAIGN_ACCESS"] ?? AccessPolicy.defaultText

    @Option(
        name: .customLong("metrics-listen"),
        help: ArgumentHelp(
            "Serve GET /metrics (Prometheus text) on HOST:PORT, e.g. 127.0.0.1:9464 (env CAMPAIGN_METRICS_LISTEN; off by default).",
            valueName: "host:port"))
    var metricsListen: String? = ProcessInfo.processInfo.environment["CAMPAIGN_METRICS_LISTEN"]

    @Option(help: "Seconds after which a connection that has sent no complete request is closed; 0: never (env CAMPAIGN_FIRST_REQUEST_TIMEOUT).")
    var firstRequestTimeout: Int = Int(ProcessInfo.processInfo.environment["CAMPAIGN_FIRST_REQUEST_TIMEOUT"] ?? "") ?? 60

    @Option(help: "Seconds after which a connection holding part of a line without sending more is closed; 0: never (env CAMPAIGN_STALLED_LINE_TIMEOUT).")
    var stalledLineTimeout: Int = Int(ProcessInfo.processInfo.environment["CAMPAIGN_STALLED_LINE_TIMEOUT"] ?? "") ?? 60

    @Option(help: ArgumentHelp(
        "Most client connections kept open; 0: the limit of open files less a reserve for the database and the rest (env CAMPAIGN_MAX_CONNECTIONS).",
        discussion: "At the cap the oldest connection that has sent no complete request is closed; failing that, an admin's or an agent's connection displaces a reader's; failing that, the newcomer is refused with LIMIT_EXCEEDED."))
    var maxConnections: Int = Int(ProcessInfo.processInfo.environment["CAMPAIGN_MAX_CONNECTIONS"] ?? "") ?? 0

    @Option(help: "Seconds one database call may take, waiting for a pooled connection included, before it answers DATABASE_UNAVAILABLE (env CAMPAIGN_DATABASE_TIMEOUT).")
    var databaseTimeout: Int = Int(ProcessInfo.processInfo.environment["CAMPAIGN_DATABASE_TIMEOUT"] ?? "") ?? 10

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = ProcessInfo.processInfo.environment["CAMPAIGN_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard (1...64).contains(self.poolSize) else { throw ValidationError("--pool-size must be 1…64") }
        guard self.maxConnections >= 0 else { throw ValidationError("--max-connections must be 0 (derived) or more") }
        guard (1...3600).contains(self.databaseTimeout) else { throw ValidationError("--database-timeout must be 1…3600 seconds") }
        guard Logger.Level(rawValue: self.logLevel) != nil else { throw ValidationError("unknown --log-level") }
        if let m = self.metricsListen, !m.isEmpty, MetricsAddress(parsing: m) == nil {
            throw ValidationError("--metrics-listen: \(m) is not HOST:PORT")
        }
        do {
            _ = try AccessPolicy.parse(self.access)
        } catch {
            throw ValidationError("--access: \(error)")
        }
    }

    func run() async throws {
        JournalLogHandler.bootstrap(level: Logger.Level(rawValue: self.logLevel) ?? .info)
        let logger = Logger(label: "campaign-coordinator")
        let notifier = SystemdNotifier()
        // Every connection is a descriptor: systemd's soft 1024 would cap the clients at about that.
        FileLimit.raise(logging: logger)

        guard let url = self.databaseURL ?? Credentials.read("database-url")
            ?? ProcessInfo.processInfo.environment["CAMPAIGN_DATABASE_URL"]
        else {
            throw ValidationError("no database: give --database-url, CAMPAIGN_DATABASE_URL or the database-url credential")
        }

        let host = ProcessInfo.processInfo.hostName
        let coordinatorID = "\(host):\(ProcessInfo.processInfo.processIdentifier)"
        let databaseTimeout = Duration.seconds(self.databaseTimeout)
        let pool = DatabasePool(
            configuration: .init(
                url: url, size: self.poolSize, timeout: databaseTimeout,
                longTimeout: max(databaseTimeout, .seconds(300))),
            logger: logger)
        let maximumConnections =
            self.maxConnections > 0
            ? self.maxConnections
            : FileLimit.connectionCap(soft: FileLimit.current()?.soft ?? 1024, poolSize: self.poolSize)
        let store = PostgresJobStore(pool: pool, logger: logger, instanceID: coordinatorID)
        if self.migrate {
            // Wait for the database rather than exit: systemd would only restart us into the same wait.
            var delay = Duration.milliseconds(250)
            while true {
                do {
                    let applied = try await store.migrate()
                    logger.info("schema ready", metadata: ["applied": "\(applied)"])
                    break
                } catch let error as StoreError where error.isUnavailable {
                    notifier.status("waiting for the database: \(error.message)")
                    logger.warning("database unavailable, retrying", metadata: ["error": "\(error)"])
                    try await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(10))
                }
            }
        }

        let registry = MetricsRegistry.bootstrapped()
        let access = try AccessPolicy.parse(self.access)
        var configuration = CoordinatorConfiguration(
            coordinatorID: coordinatorID, version: CampaignVersion.current, access: access)
        configuration.maximumConnections = maximumConnections
        if let ms = self.testHealthPatience { configuration.healthPatience = .milliseconds(ms) }
        let coordinator = Coordinator(configuration: configuration, store: store, logger: logger, metrics: registry)
        let control = ControlService(
            control: ControlConnection(url: url, instanceID: coordinatorID, logger: logger, timeout: databaseTimeout),
            coordinator: coordinator)
        let listen: RPCServer.Configuration.Listen =
            notifier.listenFileDescriptor().map { .adopted(fileDescriptor: $0) } ?? .path(self.socket)
        var serverConfiguration = RPCServer.Configuration(listen: listen)
        serverConfiguration.firstRequestTimeout = self.firstRequestTimeout > 0 ? .seconds(self.firstRequestTimeout) : nil
        serverConfiguration.stalledLineTimeout = self.stalledLineTimeout > 0 ? .seconds(self.stalledLineTimeout) : nil
        serverConfiguration.maximumConnections = maximumConnections
        serverConfiguration.isPrivileged = { coordinator.sessions.isPrivileged($0) }
        logger.info("connection cap", metadata: ["connections.maximum": "\(maximumConnections)"])
        let server = RPCServer(configuration: serverConfiguration, router: coordinator.makeRouter(), logger: logger)
        let maintenance = MaintenanceService(
            coordinator: coordinator, logger: logger, notifier: notifier,
            wedgeAfter: self.testWedgeAfter.map { .seconds($0) })
        coordinator.sessions.changed.withLockedValue { $0 = { await maintenance.status.refresh(recount: false) } }
        // The database stopped or started answering: STATUS= says so now, not at the next round.
        coordinator.database.changed.withLockedValue { $0 = { Task { await maintenance.status.refresh(recount: false) } } }
        let readiness = ReadinessService(server: server, notifier: notifier, logger: logger)
        let livenessTimeout = self.livenessTimeout
        let reload = ReloadService(notifier: notifier, logger: logger) {
            // What can change without a restart lives in the database: read it again now.
            let s = try? await coordinator.settings(fresh: true)
            return s.map { "settings reloaded (automation \($0.enabled ? "on" : "off"))" } ?? "reload: database unreachable"
        }
        let watchdog = WatchdogService(notifier: notifier, logger: logger) {
            // Alive: the event loops answer and the maintenance loop ticked recently. A database
            // outage does not count: restarting would not cure it.
            let sinceTick = ContinuousClock.now - maintenance.lastTick.withLockedValue { $0 }
            guard sinceTick < .seconds(livenessTimeout) else { return false }
            return await EventLoopProbe.responds()
        }

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: watchdog),
            .init(service: control),
            .init(service: maintenance),
            .init(service: coordinator.events),
            .init(service: server),
            .init(service: readiness),
            .init(service: reload),
        ]
        if let address = self.metricsListen.flatMap(MetricsAddress.init(parsing:)) {
            // First: services stop in reverse order, so a scrape still sees the shutdown.
            services.insert(
                .init(service: MetricsHTTPServer(address: address, logger: logger) { await coordinator.renderMetrics() }), at: 0)
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        await pool.shutdown()
        logger.info("stopped")
    }
}

/// Sends READY=1 once the socket listens, and STOPPING=1 when shutdown begins.
struct ReadinessService: Service {
    let server: RPCServer
    let notifier: SystemdNotifier
    let logger: Logger

    func run() async throws {
        try await self.server.waitUntilListening()
        // READY=1 alone: the maintenance loop has already put the real summary in STATUS=.
        self.notifier.send("READY=1")
        self.logger.info("ready")
        await withGracefulShutdownHandler {
            try? await gracefulShutdown()
        } onGracefulShutdown: {
            self.notifier.stopping(status: "stopping: answering calls in flight")
        }
    }
}

/// systemd credentials (`LoadCredential=`), read from `$CREDENTIALS_DIRECTORY`.
enum Credentials {
    static func read(_ name: String) -> String? {
        guard let dir = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"],
            let text = try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)
        else { return nil }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
