import CampaignCore
import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

/// Metrics of real processes (issue 14): the coordinator's over JSON-RPC (`campaign-ctl metrics`)
/// and over HTTP (`--metrics-listen`), an agent's over HTTP, read by a strict parser of the
/// Prometheus text format and held to what the database says after a campaign drained.
@Suite("Monitoring end to end", .serialized)
struct MonitoringEndToEndTests {
    /// The repository's root (this file is Tests/CampaignEndToEndTests/…).
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static func scrape(port: Int, path: String = "/metrics") async throws -> LoopbackHTTP.Response {
        try await Task.detached { try LoopbackHTTP.request(port: port, path: path) }.value
    }

    @Test func metricsOverRPCAndHTTPMatchTheDatabaseAfterACampaign() async throws {
        let scene = try await Scene("metrics")
        let coordinatorPort = try LoopbackHTTP.freePort()
        let agentPort = try LoopbackHTTP.freePort()
        try scene.coordinator(extra: ["--metrics-listen", "127.0.0.1:\(coordinatorPort)"])
        try await scene.waitForSocket()
        let set = try await scene.ctl(["automation", "set", "retryBaseMs=100", "retryCapMs=1000"] + AutomationSettings.wideOpenCtlArguments)
        #expect(set.status == 0, "\(set.stderr)")
        let jobs = 300
        let files = try scene.writeCustomers(jobs)
        _ = try await scene.ctl(["customers", "import", files.csv])
        // Three customers who may not be called: their jobs are refused at the pre-dial check.
        _ = try scene.db.connect().query(
            unsafeSQL: "UPDATE campaign.customers SET status = 'DO_NOT_CALL' WHERE external_ref IN ('e2e-0', 'e2e-1', 'e2e-2')")
        let enqueued = try await scene.ctl(["jobs", "enqueue", "--file", files.refs])
        #expect(enqueued.stdout.contains("enqueued \(jobs)"), "\(enqueued.stdout) \(enqueued.stderr)")

        let outcomes = ["--sim-outcomes", "ANSWERED=6,NO_ANSWER=2,BUSY=1,VOICEMAIL=1", "--sim-duration-ms", "5-30"]
        try scene.agent("m1", arguments: ["--capacity", "8", "--seed", "1", "--metrics-listen", "127.0.0.1:\(agentPort)"] + outcomes)
        try scene.agent("m2", arguments: ["--capacity", "8", "--seed", "2"] + outcomes)
        let drained = try await scene.eventually(
            "SELECT count(*) = 0 FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE')", within: .seconds(120))
        #expect(drained, "\(scene.logs())")

        let rpc = try await scene.ctl(["metrics"])
        #expect(rpc.status == 0, "\(rpc.stderr)")
        let http = try await Self.scrape(port: coordinatorPort)
        #expect(http.status == 200)
        #expect(http.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        let fromRPC = try PrometheusText(parsing: rpc.stdout)
        let fromHTTP = try PrometheusText(parsing: http.body)
        // The reference parser reads the same samples as the strict one.
        for (text, m) in [(rpc.stdout, fromRPC), (http.body, fromHTTP)] {
            let reference = try PrometheusText.referenceSamples(text)
            #expect(reference.count == m.allSamples.count && !reference.isEmpty)
            for s in reference { #expect(m.value(s.name, s.labels) == s.value, "\(s)") }
        }

        let byStatus = try Dictionary(uniqueKeysWithValues: scene.db.connect().query(unsafeSQL:
            "SELECT status::text AS s, count(*) AS n FROM campaign.campaign_jobs GROUP BY 1").all.map {
                (try $0.string("s"), Double(try $0.int("n")))
            })
        let calls = try Dictionary(uniqueKeysWithValues: scene.db.connect().query(unsafeSQL:
            "SELECT outcome, count(*) AS n FROM campaign.call_logs GROUP BY 1").all.map {
                (try $0.string("outcome"), Double(try $0.int("n")))
            })
        let leases = Double(try scene.db.scalar("SELECT sum(attempts_made) FROM campaign.campaign_jobs") ?? "") ?? -1
        let refused = Double(try scene.db.scalar(
            "SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'SKIPPED' AND result ->> 'reason' = 'not_active'") ?? "") ?? -1
        #expect(refused == 3)
        #expect(calls.values.reduce(0, +) > Double(jobs) / 2, "the campaign placed calls")

        for (source, m) in [("rpc", fromRPC), ("http", fromHTTP)] {
            // The queue, from the database: the same whichever way it is read.
            for status in JobStatus.allCases {
                #expect(
                    m.value("campaign_jobs", ["campaign": "default", "status": status.rawValue]) == byStatus[status.rawValue] ?? 0,
                    "\(source) \(status)")
            }
            #expect(m.value("campaign_jobs_due_oldest_seconds", ["campaign": "default"]) == 0, "\(source)")
            // This coordinator's own counters: every call it logged, by outcome.
            for (outcome, n) in calls {
                #expect(m.value("campaign_calls_total", ["campaign": "default", "outcome": outcome]) == n, "\(source) \(outcome)")
            }
            #expect(m.sum("campaign_calls_total") == calls.values.reduce(0, +), "\(source)")
            #expect(m.value("campaign_call_duration_seconds_count") == calls.values.reduce(0, +), "\(source)")
            #expect(m.value("campaign_dial_refusals_total", ["campaign": "default", "rule": "not_active"]) == 3, "\(source)")
            #expect(m.sum("campaign_dial_refusals_total") == 3, "\(source)")
            // One pickup per lease (the refused jobs were leased too, then refused at the pre-dial check).
            #expect(m.value("campaign_pickup_seconds_count") == leases, "\(source)")
            #expect(m.value("campaign_agents_connected") == 2, "\(source)")
            #expect(m.value("campaign_database_up") == 1, "\(source)")
            #expect(m.value("campaign_leader") == 1, "\(source)")
            #expect(m.value("campaign_calls_dialing", ["campaign": "default"]) == 0, "\(source)")
            #expect((m.sum("campaign_rpc_requests_total", matching: ["method": "agent.hello", "code": "OK"])) == 2, "\(source)")
            #expect(m.sum("campaign_rpc_requests_total", matching: ["method": "jobs.report"]) > 0, "\(source)")
            #expect(m.families["campaign_rpc_duration_seconds"]?.type == "histogram", "\(source)")
            #expect(m.families["campaign_calls_total"]?.type == "counter", "\(source)")
            #expect(m.families["campaign_jobs"]?.help?.isEmpty == false, "\(source)")
        }
        // The RPC's own request shows up in the next scrape, under its method.
        #expect(fromHTTP.sum("campaign_rpc_requests_total", matching: ["method": "metrics", "code": "OK"]) >= 1)

        // The agent's: its calls are the call logs it wrote; nothing in progress or waiting now.
        let agent = try await Self.scrape(port: agentPort)
        #expect(agent.status == 200)
        let a = try PrometheusText(parsing: agent.body)
        #expect(try PrometheusText.referenceSamples(agent.body).count == a.allSamples.count)
        let agentCalls = try Dictionary(uniqueKeysWithValues: scene.db.connect().query(unsafeSQL:
            "SELECT outcome, count(*) AS n FROM campaign.call_logs WHERE agent = 'm1' GROUP BY 1").all.map {
                (try $0.string("outcome"), Double(try $0.int("n")))
            })
        #expect(!agentCalls.isEmpty)
        for (outcome, n) in agentCalls { #expect(a.value("campaign_agent_calls_total", ["outcome": outcome]) == n, "\(outcome)") }
        #expect(a.sum("campaign_agent_calls_total") == agentCalls.values.reduce(0, +))
        #expect(a.value("campaign_agent_calls_in_progress") == 0)
        #expect(a.value("campaign_agent_spooled_reports") == 0)
        #expect(a.value("campaign_agent_capacity") == 8)
        #expect(a.value("campaign_agent_coordinator_connected") == 1)
        #expect(a.value("campaign_agent_reports_delivered_total") == agentCalls.values.reduce(0, +))

        // The alert rules and the dashboard in contrib/ name only metrics that exist.
        let shown = Set(fromHTTP.families.keys).union(a.families.keys).union(["up"])
        for file in ["contrib/prometheus/campaign-alerts.yml", "contrib/grafana/campaign-calls.json"] {
            let text = try String(contentsOfFile: Self.repo + "/" + file, encoding: .utf8)
            let names = Set(text.matches(of: /campaign_[a-z_]+/).map { String($0.output) })
                .filter { !["campaign_calls", "campaign_"].contains($0) }
            #expect(names.count > 10, "\(file)")
            for name in names.sorted() {
                let family = name.replacing(/_(bucket|count|sum)$/, with: "")
                #expect(shown.contains(name) || shown.contains(family), "\(file) names \(name), which nothing exports")
            }
        }

        // The listener answers only GET/HEAD of /metrics.
        #expect(try await Self.scrape(port: coordinatorPort, path: "/").status == 404)
        let post = try await Task.detached { try LoopbackHTTP.request("POST", port: coordinatorPort, path: "/metrics") }.value
        #expect(post.status == 405 && post.headers["allow"] == "GET, HEAD")

        let statuses = await scene.tearDown()
        #expect(statuses.values.allSatisfy { $0 == 0 }, "\(statuses)")
    }
}
