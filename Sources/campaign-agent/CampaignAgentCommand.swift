import ArgumentParser
import CampaignAgentKit
import CampaignCore
import CampaignMetrics
import CampaignProtocol
import CampaignRPC
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

    @Option(help: "Reports of ended calls that may wait for the coordinator at once; an ended call gives its slot to the next call as soon as its report has a place (env CAMPAIGN_AGENT_REPORT_BACKLOG; default: the capacity).")
    var reportBacklog: Int? = Int(env["CAMPAIGN_AGENT_REPORT_BACKLOG"] ?? "")

    @Flag(
        inversion: .prefixedNo,
        help: "Lease with the pre-dial check in the same request (jobs.lease dial: true; env CAMPAIGN_LEASE_DIAL=1): faster, but a job leased by an agent killed before it dials ends outcome_unknown uncalled. Default: jobs.dialing before each call.")
    var leaseDial: Bool = env["CAMPAIGN_LEASE_DIAL"] == "1"

    @Option(help: "Placer backend: simulate, exec or http (env CAMPAIGN_PLACER).")
    var placer: String = env["CAMPAIGN_PLACER"] ?? "simulate"

    @Option(help: ArgumentHelp(
        "What each outcome does to its job, overriding the defaults (env CAMPAIGN_OUTCOME_ACTIONS).",
        discussion: "Defaults: \(OutcomePolicy.default.description). Example: VOICEMAIL=retry,FAILED=fail.",
        valueName: "OUTCOME=complete|retry|fail,…"))
    var outcomeActions: String = env["CAMPAIGN_OUTCOME_ACTIONS"] ?? ""

    @Option(help: "Hard limit of one call in seconds, placing and following it (env CAMPAIGN_CALL_TIMEOUT).")
    var callTimeout: Int = Int(env["CAMPAIGN_CALL_TIMEOUT"] ?? "") ?? 900

    // simulate

    @Option(help: "simulate: seed (env CAMPAIGN_SIM_SEED).")
    var seed: UInt64 = UInt64(env["CAMPAIGN_SIM_SEED"] ?? "") ?? 1

    @Option(help: "simulate: call duration range in ms, MIN-MAX (env CAMPAIGN_SIM_DURATION_MS).")
    var simDurationMs: String = env["CAMPAIGN_SIM_DURATION_MS"] ?? "200-1200"

    @Option(help: ArgumentHelp(
        "simulate: outcome weights (env CAMPAIGN_SIM_OUTCOMES; default ANSWERED=55,VOICEMAIL=15,NO_ANSWER=15,BUSY=7,REJECTED=3,FAILED=5).",
        valueName: "OUTCOME=WEIGHT,…"))
    var simOutcomes: String = env["CAMPAIGN_SIM_OUTCOMES"] ?? ""

    @Option(help: ArgumentHelp(
        "Simulate placer: append each placed call's idempotency key to this file (tests count dials with it).",
        visibility: .hidden))
    var simDialLog: String?

    // exec

    @Option(help: "exec: the command run for each call (env CAMPAIGN_EXEC_COMMAND).")
    var execCommand: String? = env["CAMPAIGN_EXEC_COMMAND"]

    @Option(parsing: .singleValue, help: "exec: an argument of the command (repeat for more).")
    var execArg: [String] = []

    @Option(help: ArgumentHelp(
        "exec: the command that looks up a call whose outcome is unknown (env CAMPAIGN_EXEC_LOOKUP_COMMAND): the call's request with \"lookup\": true on stdin; it prints the outcome as the placing command does, {\"outcome\": \"UNKNOWN\"}, or {\"outcome\": \"NOT_PLACED\"} when the provider has no such call. It must never create a call.",
        valueName: "path"))
    var execLookupCommand: String? = env["CAMPAIGN_EXEC_LOOKUP_COMMAND"]

    // http

    @Option(help: "http: the provider's endpoint that creates calls (env CAMPAIGN_HTTP_ENDPOINT).")
    var httpEndpoint: String? = env["CAMPAIGN_HTTP_ENDPOINT"]

    @Option(help: ArgumentHelp(
        "http: file holding the bearer token (env CAMPAIGN_HTTP_TOKEN_FILE; default $CREDENTIALS_DIRECTORY/provider-token when that exists).",
        valueName: "path"))
    var httpTokenFile: String? = env["CAMPAIGN_HTTP_TOKEN_FILE"]

    @Option(help: "http: pause between status polls in ms (env CAMPAIGN_HTTP_POLL_MS).")
    var httpPollMs: Int = Int(env["CAMPAIGN_HTTP_POLL_MS"] ?? "") ?? 2000

    @Option(help: "http: limit of one HTTP request in ms (env CAMPAIGN_HTTP_REQUEST_TIMEOUT_MS).")
    var httpRequestTimeoutMs: Int = Int(env["CAMPAIGN_HTTP_REQUEST_TIMEOUT_MS"] ?? "") ?? 10_000

    @Option(help: ArgumentHelp(
        "http: provider statuses and their meaning, added to the defaults (env CAMPAIGN_HTTP_STATUS_MAP). Example: completed=ANSWERED,answered=progress.",
        valueName: "STATUS=OUTCOME|progress,…"))
    var httpStatusMap: String = env["CAMPAIGN_HTTP_STATUS_MAP"] ?? ""

    @Option(help: ArgumentHelp(
        "http: where a call whose outcome is unknown is looked up by its provider id, {callId} replaced (env CAMPAIGN_HTTP_LOOKUP_URL; default <endpoint>/{callId}).",
        valueName: "url"))
    var httpLookupUrl: String? = env["CAMPAIGN_HTTP_LOOKUP_URL"]

    @Option(help: ArgumentHelp(
        "http: where a call is looked up by its idempotency key when its id was never learnt, {idempotencyKey} replaced, e.g. https://voice.example/v1/calls?idempotencyKey={idempotencyKey} (env CAMPAIGN_HTTP_LOOKUP_BY_KEY_URL; default: no lookup by key). A 404 there is the provider's word that no call was placed: the job is dialed again.",
        valueName: "url"))
    var httpLookupByKeyUrl: String? = env["CAMPAIGN_HTTP_LOOKUP_BY_KEY_URL"]

    @Option(help: "Seconds between the agent's requests for unknown outcomes to look up at the provider (jobs.reconcile), when its placer can look calls up; 0: never (env CAMPAIGN_RECONCILE_POLL).")
    var reconcilePoll: Int = Int(env["CAMPAIGN_RECONCILE_POLL"] ?? "") ?? 10

    @Option(help: ArgumentHelp(
        "Directory where reports wait until the coordinator has them, across restarts (env CAMPAIGN_AGENT_SPOOL; default $STATE_DIRECTORY, set by systemd's StateDirectory=; 'none' keeps them in memory only). One directory per agent.",
        valueName: "dir"))
    var spoolDir: String? = env["CAMPAIGN_AGENT_SPOOL"] ?? env["STATE_DIRECTORY"]

    @Option(
        name: .customLong("metrics-listen"),
        help: ArgumentHelp(
            "Serve GET /metrics (Prometheus text) on HOST:PORT, e.g. 127.0.0.1:9465, a port per agent (env CAMPAIGN_AGENT_METRICS_LISTEN; off by default).",
            valueName: "host:port"))
    var metricsListen: String? = env["CAMPAIGN_AGENT_METRICS_LISTEN"]

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = env["CAMPAIGN_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard (1...1000).contains(self.capacity) else { throw ValidationError("--capacity must be 1…1000") }
        if let backlog = self.reportBacklog, !(1...10000).contains(backlog) {
            throw ValidationError("--report-backlog must be 1…10000")
        }
        guard Logger.Level(rawValue: self.logLevel) != nil else { throw ValidationError("unknown --log-level") }
        if let m = self.metricsListen, !m.isEmpty, MetricsAddress(parsing: m) == nil {
            throw ValidationError("--metrics-listen: \(m) is not HOST:PORT")
        }
        guard self.callTimeout >= 1 else { throw ValidationError("--call-timeout must be ≥ 1") }
        do {
            _ = try OutcomePolicy.parse(self.outcomeActions)
        } catch {
            throw ValidationError("--outcome-actions: \(error)")
        }
        switch self.placer {
        case "simulate":
            guard self.durationRange() != nil else { throw ValidationError("--sim-duration-ms must look like 200-1200") }
            do {
                _ = try SimulatePlacer.parseWeights(self.simOutcomes)
            } catch {
                throw ValidationError("--sim-outcomes: \(error)")
            }
        case "exec":
            guard let command = self.execCommand, !command.isEmpty else {
                throw ValidationError("--placer exec needs --exec-command")
            }
            guard FileManager.default.isExecutableFile(atPath: command) else {
                throw ValidationError("--exec-command \(command) is not an executable file")
            }
            if let lookup = self.execLookupCommand, !lookup.isEmpty, !FileManager.default.isExecutableFile(atPath: lookup) {
                throw ValidationError("--exec-lookup-command \(lookup) is not an executable file")
            }
        case "http":
            guard let endpoint = self.httpEndpoint, let url = URL(string: endpoint),
                url.scheme == "http" || url.scheme == "https", url.host != nil
            else {
                throw ValidationError("--placer http needs --http-endpoint http(s)://host/path")
            }
            if let file = self.tokenFile(), !FileManager.default.isReadableFile(atPath: file) {
                throw ValidationError("http token file \(file) is not readable")
            }
            guard self.httpPollMs >= 10 else { throw ValidationError("--http-poll-ms must be ≥ 10") }
            for (flag, template, field) in [
                ("--http-lookup-url", self.httpLookupUrl, "{callId}"),
                ("--http-lookup-by-key-url", self.httpLookupByKeyUrl, "{idempotencyKey}"),
            ] {
                guard let template, !template.isEmpty else { continue }
                let probe = template.replacingOccurrences(of: field, with: "x")
                guard template.contains(field), let u = URL(string: probe), u.scheme == "http" || u.scheme == "https" else {
                    throw ValidationError("\(flag) must be an http(s) URL with \(field) in it")
                }
            }
            guard self.httpRequestTimeoutMs >= 100 else { throw ValidationError("--http-request-timeout-ms must be ≥ 100") }
            do {
                _ = try ProviderStatusMap.parse(self.httpStatusMap)
            } catch {
                throw ValidationError("--http-status-map: \(error)")
            }
        default:
            throw ValidationError("unknown --placer \(self.placer) (simulate, exec or http)")
        }
    }

    /// The token file: the flag, else the systemd credential `provider-token` when present.
    func tokenFile() -> String? {
        if let file = self.httpTokenFile { return file }
        guard let dir = Self.env["CREDENTIALS_DIRECTORY"] else { return nil }
        let path = dir + "/provider-token"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }

    func makePlacer(logger: Logger) throws -> any Placer {
        switch self.placer {
        case "exec":
            return ExecPlacer(configuration: .init(
                command: self.execCommand!, arguments: self.execArg,
                lookupCommand: self.execLookupCommand.flatMap { $0.isEmpty ? nil : $0 }))
        case "http":
            var configuration = HTTPPlacer.Configuration(
                endpoint: self.httpEndpoint!, tokenFile: self.tokenFile(), pollInterval: .milliseconds(self.httpPollMs),
                requestTimeout: .milliseconds(self.httpRequestTimeoutMs),
                statusMap: try ProviderStatusMap.parse(self.httpStatusMap))
            configuration.maximumConnections = self.capacity + 2  // every call's poll, and a lookup or two
            configuration.lookupURLTemplate = self.httpLookupUrl.flatMap { $0.isEmpty ? nil : $0 }
            configuration.lookupByKeyURLTemplate = self.httpLookupByKeyUrl.flatMap { $0.isEmpty ? nil : $0 }
            return HTTPPlacer(configuration: configuration, logger: logger)
        default:
            return SimulatePlacer(
                configuration: .init(
                    seed: self.seed, weights: try SimulatePlacer.parseWeights(self.simOutcomes),
                    durationMs: self.durationRange()!, dialLogPath: self.simDialLog))
        }
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
        FileLimit.raise(logging: logger)  // each call holds a connection (http) or pipes (exec)

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
        let placer = try self.makePlacer(logger: logger)
        logger.info("placing calls with \(placer.provider)")
        let spool = self.spoolDir.flatMap { $0 == "none" || $0.isEmpty ? nil : $0 }
        var configuration = AgentRunner.Configuration(
            capacity: self.capacity, callHardLimit: .seconds(self.callTimeout), leaseAndDial: self.leaseDial,
            outcomePolicy: try OutcomePolicy.parse(self.outcomeActions), spoolDirectory: spool)
        configuration.reportBacklog = self.reportBacklog
        configuration.reconcilePoll = self.reconcilePoll > 0 ? .seconds(self.reconcilePoll) : nil
        let runner = try AgentRunner(
            configuration: configuration,
            link: link, placer: placer, logger: logger, notifier: notifier,
            metrics: AgentMetrics(registry: .bootstrapped()))
        runnerBox.withLockedValue { $0 = runner }
        // Alive: the event loops answer (a call past its hard limit is abandoned by the runner).
        let watchdog = WatchdogService(notifier: notifier, logger: logger) { await EventLoopProbe.responds() }
        notifier.status("starting: connecting to the coordinator")
        // Shutdown runs in reverse: the runner drains (finishes calls, reports) before the link closes.
        let reload = ReloadService(notifier: notifier, logger: logger) {
            // The agent's settings are flags; the coordinator's come with each lease. Report state.
            "reloaded; \(runner.stats.withLockedValue { $0.callsPlaced }) calls placed"
        }
        // The metrics listener first: it stops last, so a scrape still sees the drain.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let address = self.metricsListen.flatMap(MetricsAddress.init(parsing:)) {
            services.append(.init(service: MetricsHTTPServer(address: address, logger: logger) { runner.metrics.render(runner) }))
        }
        services += [.init(service: watchdog), .init(service: link), .init(service: runner), .init(service: reload)]
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        logger.info("stopped")
    }
}
