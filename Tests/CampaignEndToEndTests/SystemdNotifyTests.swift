import CampaignProtocol
import CampaignRPC
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The daemons' conversation with systemd, against a fake notify socket (a Unix datagram socket
/// passed in NOTIFY_SOCKET), and socket activation through `systemd-socket-activate`.
@Suite("systemd integration", .serialized)
struct SystemdNotifyTests {
    static func notify(_ scene: Scene) throws -> FakeNotifySocket {
        try FakeNotifySocket(path: scene.dir.appendingPathComponent("notify.sock").path)
    }

    /// 1 s watchdog: pings expected every 0.5 s.
    static func env(_ n: FakeNotifySocket) -> [String: String] {
        ["NOTIFY_SOCKET": n.path, "WATCHDOG_USEC": "1000000"]
    }

    static func watchdogPings(_ n: FakeNotifySocket, after: ContinuousClock.Instant) -> Int {
        n.all.filter { $0.at > after && $0.text.contains("WATCHDOG=1") }.count
    }

    @Test func coordinatorReadyStatusWatchdogReloadStopping() async throws {
        let scene = try await Scene("notifyc")
        let n = try Self.notify(scene)
        defer { n.close() }
        let p = try ManagedProcess(
            "campaign-coordinator", ["--socket", scene.socket, "--database-url", scene.db.url] + Scene.patientHealth,
            environment: Self.env(n), logDir: scene.dir)
        scene.processes.append(p)
        #expect(await n.waitFor { $0 == "READY=1" } != nil, "no READY=1:\n\(scene.logs())")
        // READY only once the socket answers.
        #expect(try await scene.ctl(["health"]).status == 0)
        #expect(await n.waitFor { $0.hasPrefix("STATUS=agents 0") && $0.contains("database up") } != nil, "\(n.lines)")
        // An agent says hello: STATUS= counts it at once, not at the next maintenance tick.
        try await RPCClient.withConnection(socketPath: scene.socket) { c in
            _ = try await c.call(AgentHello.self, .init(agentId: "s1", capacity: 1, version: "t"))
            #expect(await n.waitFor(within: .seconds(3)) { $0.hasPrefix("STATUS=agents 1") } != nil, "\(n.lines)")
        }
        let t = ContinuousClock.now
        try await Task.sleep(for: .seconds(2))
        #expect(Self.watchdogPings(n, after: t) >= 3, "\(n.lines)")
        // SIGHUP: RELOADING=1, then READY=1 again.
        let before = n.lines.count
        p.signal(SIGHUP)
        #expect(await n.waitFor(from: before) { $0 == "RELOADING=1" } != nil)
        #expect(await n.waitFor(from: before + 1) { $0 == "READY=1" } != nil, "\(n.lines)")
        #expect(p.isRunning)
        // SIGTERM: STOPPING=1 and a clean exit.
        let beforeStop = n.lines.count
        #expect(await p.stop() == 0)
        #expect(n.lines[beforeStop...].contains("STOPPING=1"), "\(n.lines)")
        _ = await scene.tearDown()
    }

    @Test func aWedgedMaintenanceLoopStopsThePingsButADatabaseOutageDoesNot() async throws {
        // Wedged: pings stop once the loop has not ticked for the liveness timeout.
        let scene = try await Scene("wedge")
        let n = try Self.notify(scene)
        defer { n.close() }
        let p = try ManagedProcess(
            "campaign-coordinator",
            ["--socket", scene.socket, "--database-url", scene.db.url, "--liveness-timeout", "2", "--test-wedge-after", "1"],
            environment: Self.env(n), logDir: scene.dir)
        scene.processes.append(p)
        #expect(await n.waitFor { $0 == "READY=1" } != nil)
        try await Task.sleep(for: .seconds(5))
        let quiet = ContinuousClock.now
        try await Task.sleep(for: .seconds(2))
        #expect(Self.watchdogPings(n, after: quiet) == 0, "still pinging while wedged: \(n.lines.suffix(6))")
        #expect(p.log().contains("liveness check failed"))
        _ = await scene.tearDown()

        // Database unreachable: STATUS says so, pings go on (a restart would not cure it).
        let scene2 = try await Scene("dbdown")
        let n2 = try Self.notify(scene2)
        defer { n2.close() }
        let q = try ManagedProcess(
            "campaign-coordinator", ["--socket", scene2.socket, "--database-url", scene2.db.url] + Scene.patientHealth,
            environment: Self.env(n2), logDir: scene2.dir)
        scene2.processes.append(q)
        #expect(await n2.waitFor { $0 == "READY=1" } != nil)
        let admin = try PQConnectionAdmin(scene2.db)
        try admin.cutOff()
        #expect(await n2.waitFor(within: .seconds(30)) { $0.hasPrefix("STATUS=") && $0.contains("UNREACHABLE") } != nil,
                "\(n2.lines.suffix(6))")
        let t = ContinuousClock.now
        try await Task.sleep(for: .seconds(2))
        #expect(Self.watchdogPings(n2, after: t) >= 3, "pings stopped during a database outage")
        try admin.restore()
        _ = await scene2.tearDown()
    }

    @Test func agentReadyStatusFollowsTheCoordinatorLinkAndStops() async throws {
        let scene = try await Scene("notifya")
        let n = try Self.notify(scene)
        defer { n.close() }
        let a = try ManagedProcess(
            "campaign-agent", ["--id", "n1", "--capacity", "2"],
            environment: Self.env(n).merging(["CAMPAIGN_SOCKET": scene.socket]) { $1 }, logDir: scene.dir)
        scene.processes.append(a)
        #expect(await n.waitFor { $0.hasPrefix("STATUS=") && $0.contains("coordinator UNREACHABLE") } != nil, "\(n.lines)")
        // Not ready while there is no coordinator link.
        #expect(!n.lines.contains("READY=1"))
        try scene.coordinator()
        #expect(await n.waitFor { $0 == "READY=1" } != nil, "\(n.lines)")
        #expect(await n.waitFor { $0.hasPrefix("STATUS=idle") && $0.contains("coordinator connected") } != nil, "\(n.lines)")
        let t = ContinuousClock.now
        try await Task.sleep(for: .seconds(2))
        #expect(Self.watchdogPings(n, after: t) >= 3)
        let before = n.lines.count
        #expect(await a.stop() == 0)
        #expect(n.lines[before...].contains("STOPPING=1"), "\(n.lines)")
        _ = await scene.tearDown()
    }

    @Test func socketActivationStartsTheCoordinatorOnTheFirstConnect() async throws {
        let scene = try await Scene("activate")
        let coordinator = try ManagedProcess.binDirectory().appendingPathComponent("campaign-coordinator").path
        // systemd-socket-activate owns the socket and starts the daemon with it as fd 3 (LISTEN_FDS).
        let p = try ManagedProcess(
            "/usr/bin/systemd-socket-activate",
            ["-l", scene.socket, coordinator, "--socket", "/nonexistent/ignored.sock", "--database-url", scene.db.url],
            logDir: scene.dir, name: "activate")
        scene.processes.append(p)
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: scene.socket) {
            try await Task.sleep(for: .milliseconds(50))
        }
        // Nothing runs yet but the activator; the first connect starts the coordinator, and that
        // very connect is served (it waited in the socket's backlog).
        #expect(!p.log().contains("ready"))
        // (An in-process client: a child process's pipes would be inherited by the activated daemon.)
        let h = try await RPCClient.withConnection(socketPath: scene.socket) { try await $0.call(Health.self, NoParams()) }
        #expect(h.database == "up", "\(scene.logs())")
        #expect(p.log().contains("fd 3 from systemd"), "\(p.log())")
        _ = await scene.tearDown()
    }
}

/// Cuts a test database off from new and existing sessions, and restores it.
struct PQConnectionAdmin {
    let db: TestDatabase
    init(_ db: TestDatabase) throws { self.db = db }

    func cutOff() throws {
        let admin = try self.db.adminConnection()
        _ = try admin.exec(unsafeSQL: "ALTER DATABASE \(self.db.name) ALLOW_CONNECTIONS false")
        _ = try admin.query(unsafeSQL: 
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            [self.db.name])
    }

    func restore() throws {
        _ = try self.db.adminConnection().exec(unsafeSQL: "ALTER DATABASE \(self.db.name) ALLOW_CONNECTIONS true")
    }
}
