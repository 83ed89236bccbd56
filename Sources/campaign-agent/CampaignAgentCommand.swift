import ArgumentParser
import CampaignAgentKit
import CampaignProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SystemdNotify

@main
struct CampaignAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign-agent",
        abstract: "Leases campaign jobs from the coordinator, places the calls and reports the results.")

    private static let env = ProcessInfo.processInfo.environment

    @Option(help: "Coordinator socket (env CAMPAIGN_SOCKET).")
    var socket: String = env["CAMPAIGN_SOCKET"] ?? "/run/campaign/coordinator.sock"

    @Option(help: "Agent id, unique per agent (env CAMPAIGN_AGENT_ID; default: host name and pid).")
    var id: String = env["CAMPAIGN_AGENT_ID"] ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"

    @Option(help: "Calls at once (env CAMPAIGN_AGENT_CAPACITY).")
    var capacity: Int = Int(env["CAMPAIGN_AGENT_CAPACITY"] ?? "") ?? 4

    @Option(help: "Placer backend: simulate (env CAMPAIGN_PLACER). exec and http come with the placer issue.")
    var placer: String = env["CAMPAIGN_PLACER"] ?? "simulate"

    @Option(help: "Seed of the simulate placer (env CAMPAIGN_SIM_SEED).")
    var seed: UInt64 = UInt64(env["CAMPAIGN_SIM_SEED"] ?? "") ?? 1

    @Option(help: "Simulated call duration range in ms, MIN-MAX (env CAMPAIGN_SIM_DURATION_MS).")
    var simDurationMs: String = env["CAMPAIGN_SIM_DURATION_MS"] ?? "200-1200"

    @Option(help: ArgumentHelp(
        "Simulate placer: append each placed call's idempotency key to this file (tests count dials with it).",
        visibility: .hidden))
    var simDialLog: String?

    @Option(help: "Hard limit of one call in seconds.")
    var callTimeout: Int = 900

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = env["CAMPAIGN_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard (1...1000).contains(self.capacity) else { throw ValidationError("--capacity must be 1…1000") }
        guard self.placer == "simulate" else {
            throw ValidationError("unknown --placer \(self.placer): this build supports simulate")
        }
        guard self.durationRange() != nil else { throw ValidationError("--sim-duration-ms must look like 200-1200") }
        guard Logger.Level(rawValue: self.logLevel) != nil else { throw ValidationError("unknown --log-level") }
        guard self.callTimeout >= 1 else { throw ValidationError("--call-timeout must be ≥ 1") }
    }

    func durationRange() -> ClosedRange<Int>? {
        let parts = self.simDurationMs.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 2, parts[0] >= 0, parts[0] <= parts[1] else { return nil }
        return parts[0]...parts[1]
    }

    func run() async throws {
        JournalLogHandler.bootstrap(level: Logger.Level(rawValue: self.logLevel) ?? .info)
        var logger = Logger(label: "campaign-agent")
        logger[metadataKey: "agent.id"] = "\(self.id)"
        let notifier = SystemdNotifier()

        // The link's hello names the runner's held leases; the runner uses the link: tie the knot.
        let runnerBox = NIOLockedValueBox<AgentRunner?>(nil)
        let (id, capacity) = (self.id, self.capacity)
        // READY=1 once the coordinator link is first up (under systemd the socket is always there,
        // so this comes fast); STATUS= says "coordinator UNREACHABLE" until then.
        let readySent = NIOLockedValueBox(false)
        let link = CoordinatorLink(
            configuration: .init(
                socketPath: self.socket,
                hello: {
                    AgentHello.Params(
                        agentId: id, capacity: capacity, version: CampaignVersion.current,
                        leases: runnerBox.withLockedValue { $0?.heldLeases() ?? [] })
                },
                onConnected: {
                    let first = readySent.withLockedValue { sent -> Bool in
                        defer { sent = true }
                        return !sent
                    }
                    if first { notifier.send("READY=1") }
                }),
            logger: logger)
        let placer = SimulatePlacer(
            configuration: .init(seed: self.seed, durationMs: self.durationRange()!, dialLogPath: self.simDialLog))
        let runner = AgentRunner(
            configuration: .init(capacity: self.capacity, callHardLimit: .seconds(self.callTimeout)),
            link: link, placer: placer, logger: logger, notifier: notifier)
        runnerBox.withLockedValue { $0 = runner }
        // Alive: the event loops answer (a call past its hard limit is abandoned by the runner).
        let watchdog = WatchdogService(notifier: notifier, logger: logger) { await EventLoopProbe.responds() }
        notifier.status("starting: connecting to the coordinator")
        // Shutdown runs in reverse: the runner drains (finishes calls, reports) before the link closes.
        let reload = ReloadService(notifier: notifier, logger: logger) {
            // The agent's settings are flags; the coordinator's come with each lease. Report state.
            "reloaded; \(runner.stats.withLockedValue { $0.callsPlaced }) calls placed"
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: watchdog), .init(service: link), .init(service: runner), .init(service: reload)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        logger.info("stopped")
    }
}
