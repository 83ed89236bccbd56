import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A stage for end-to-end tests: a fresh database, a temp directory with the coordinators'
/// sockets, the processes' logs and the simulated provider's dial log, and the processes.
final class Scene: @unchecked Sendable {
    // `@unchecked Sendable`: one test drives a scene from one task.
    let db: TestDatabase
    let dir: URL
    var processes: [ManagedProcess] = []

    /// - Parameter cluster: a URL of another cluster to make the database in (the suite's by default).
    init(_ label: String, cluster: String? = nil) async throws {
        self.db = try await TestDatabase.create(label, cluster: cluster)
        self.dir = FileManager.default.temporaryDirectory.appendingPathComponent("campaign-e2e-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: self.dir, withIntermediateDirectories: true)
    }

    func socket(_ coordinator: String = "c") -> String { self.dir.appendingPathComponent("\(coordinator).sock").path }
    var socket: String { self.socket() }
    var env: [String: String] { ["CAMPAIGN_SOCKET": self.socket] }
    /// Every call the simulated provider was asked to place, one idempotency key per line.
    var dialLog: String { self.dir.appendingPathComponent("dials.log").path }

    /// `health` waits for its reads in these tests (they are not about its second, and the
    /// machine running every suite at once can take longer than that), unless `extra` says.
    static let patientHealth = ["--test-health-patience", "60000"]

    @discardableResult
    func coordinator(_ name: String = "c", extra: [String] = []) throws -> ManagedProcess {
        let patience = extra.contains("--test-health-patience") ? [] : Self.patientHealth
        let p = try ManagedProcess(
            "campaign-coordinator", ["--socket", self.socket(name), "--database-url", self.db.url] + patience + extra,
            logDir: self.dir, name: "\(name)-\(self.processes.count)")
        self.processes.append(p)
        return p
    }

    /// Starts a coordinator, recording a test issue instead of throwing.
    func try_coordinator(_ name: String = "c") {
        do { try self.coordinator(name) } catch { Issue.record("cannot start the coordinator: \(error)") }
    }

    @discardableResult
    func agent(
        _ id: String, coordinator: String = "c", capacity: Int = 5, durationMs: String = "5-40"
    ) throws -> ManagedProcess {
        let p = try ManagedProcess(
            "campaign-agent",
            [
                "--id", id, "--capacity", String(capacity), "--sim-duration-ms", durationMs, "--seed", "7",
                "--sim-dial-log", self.dialLog,
            ],
            environment: ["CAMPAIGN_SOCKET": self.socket(coordinator)], logDir: self.dir,
            name: "\(id)-\(self.processes.count)")
        self.processes.append(p)
        return p
    }

    /// An agent with its own placer flags (no simulate defaults) and environment (never `setenv`:
    /// suites run in parallel in one process, and another's agents would inherit it).
    @discardableResult
    func agent(
        _ id: String, coordinator: String = "c", arguments: [String], environment: [String: String] = [:]
    ) throws -> ManagedProcess {
        let p = try ManagedProcess(
            "campaign-agent", ["--id", id] + arguments,
            environment: environment.merging(["CAMPAIGN_SOCKET": self.socket(coordinator)]) { _, b in b }, logDir: self.dir,
            name: "\(id)-\(self.processes.count)")
        self.processes.append(p)
        return p
    }

    func ctl(_ args: [String], coordinator: String = "c") async throws -> (status: Int32, stdout: String, stderr: String) {
        try await runToCompletion("campaign-ctl", args, environment: ["CAMPAIGN_SOCKET": self.socket(coordinator)])
    }

    /// Starts coordinator "c" with the automation wide open (and `settings` on top), imports
    /// `jobs` customers and enqueues one job for each, recording a test issue for a step that fails.
    func startWithJobs(_ jobs: Int, settings: [String] = []) async throws {
        self.try_coordinator()
        try await self.waitForSocket()
        let set = try await self.ctl(["automation", "set"] + settings + AutomationSettings.wideOpenCtlArguments)
        #expect(set.status == 0, "\(set.stderr)")
        let files = try self.writeCustomers(jobs)
        _ = try await self.ctl(["customers", "import", files.csv])
        let enqueued = try await self.ctl(["jobs", "enqueue", "--file", files.refs])
        #expect(enqueued.stdout.contains("enqueued \(jobs)"), "\(enqueued.stdout) \(enqueued.stderr)")
    }

    func waitForSocket(_ coordinator: String = "c") async throws {
        for _ in 0..<500 {
            if try await self.ctl(["health"], coordinator: coordinator).status == 0 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("coordinator \(coordinator) never answered health:\n\(self.logs())")
    }

    func eventually(_ sql: String, within: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            if try self.db.scalar(sql) == "t" { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// A CSV of `n` customers (plus one broken row) and a file of their refs.
    func writeCustomers(_ n: Int) throws -> (csv: String, refs: String) {
        var csv = "external_ref,name,phone,timezone,segment\n"
        var refs = ""
        csv.reserveCapacity(n * 64)
        for i in 0..<n {
            // UK numbers: no rule of the law's applies, so the scene does not depend on the hour.
            csv += "e2e-\(i),Customer \(i),+44 (20) 7\(String(format: "%03d", 200 + i / 10000)) \(String(format: "%04d", i % 10000)),America/Los_Angeles,gold\n"
            refs += "e2e-\(i)\n"
        }
        csv += "broken,No Phone,,America/Los_Angeles,\n"
        let csvPath = self.dir.appendingPathComponent("customers.csv").path
        let refsPath = self.dir.appendingPathComponent("refs.txt").path
        try csv.write(toFile: csvPath, atomically: true, encoding: .utf8)
        try refs.write(toFile: refsPath, atomically: true, encoding: .utf8)
        return (csvPath, refsPath)
    }

    /// The simulated provider's record: idempotency key → how many calls were placed with it.
    func dials() -> [String: Int] {
        let text = (try? String(contentsOfFile: self.dialLog, encoding: .utf8)) ?? ""
        var counts: [String: Int] = [:]
        for line in text.split(separator: "\n") { counts[String(line), default: 0] += 1 }
        return counts
    }

    /// Stops everything; returns the exit statuses of graceful stops (nil = had to be killed).
    func tearDown() async -> [String: Int32?] {
        var statuses: [String: Int32?] = [:]
        for p in self.processes.reversed() where p.isRunning { statuses[p.name] = await p.stop() }
        try? FileManager.default.removeItem(at: self.dir)
        self.db.drop()
        return statuses
    }

    func logs() -> String { self.processes.map { "== \($0.name)\n\($0.log().suffix(3000))" }.joined(separator: "\n") }
}
