import CampaignCoordinator
import CampaignProtocol
import CampaignRPC
import CampaignStore
import CampaignTestSupport
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// Several coordinators on one database: one maintenance leader, wake-ups across coordinators.
@Suite("Several coordinators")
struct MultiCoordinatorTests {
    /// A coordinator with its socket server and control connection, as the executable wires them.
    struct Node: Sendable {
        let coordinator: Coordinator
        let socketPath: String
        let control: ControlService
        let server: RPCServer
    }

    static func node(_ db: TestDatabase, _ name: String, dir: URL) -> Node {
        let logger = Logger(label: name)
        let pool = DatabasePool(configuration: .init(url: db.url, size: 2), logger: logger)
        let store = PostgresJobStore(pool: pool, logger: logger, instanceID: name)
        let coordinator = Coordinator(
            configuration: .init(
                coordinatorID: name, version: "t", maximumLeaseWait: .seconds(300), fallbackPoll: .seconds(600)),
            store: store,
            logger: logger)
        let socketPath = dir.appendingPathComponent("\(name).sock").path
        let server = RPCServer(configuration: .init(listen: .path(socketPath)), router: coordinator.makeRouter(), logger: logger)
        let control = ControlService(
            control: ControlConnection(url: db.url, instanceID: name, logger: logger, tickMs: 200), coordinator: coordinator)
        return Node(coordinator: coordinator, socketPath: socketPath, control: control, server: server)
    }

    /// How long a wait for something expected in milliseconds may take before the test fails: long,
    /// because a full suite's start can leave these in-process coordinators without a cooperative
    /// thread for many seconds (a CI run saw a lease take over 10 s to start waiting).
    static let patience = Duration.seconds(90)

    static func until(_ within: Duration, _ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test func exactlyOneLeaderAndTheOtherTakesOverWhenItGoes() async throws {
        let (db, store) = try await TestDatabase.migrated("leader")
        defer { db.drop() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("campaign-mc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = store
        let a = Self.node(db, "a", dir: dir)
        let b = Self.node(db, "b", dir: dir)
        // Each control connection in a service group of its own, so one can stop while the other runs.
        let groupA = ServiceGroup(services: [a.control], logger: Logger(label: "a"))
        let groupB = ServiceGroup(services: [b.control], logger: Logger(label: "b"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await groupA.run() }
            tasks.addTask { try await groupB.run() }
            let leaders = { [a.coordinator.isLeader.withLockedValue { $0 }, b.coordinator.isLeader.withLockedValue { $0 }] }
            #expect(await Self.until(Self.patience) { leaders().filter { $0 }.count == 1 })
            // It stays exactly one.
            try await Task.sleep(for: .milliseconds(600))
            #expect(leaders().filter { $0 }.count == 1)
            // The leader goes away (its session ends, freeing the lock): the other takes over.
            let (leaderGroup, follower) = a.coordinator.isLeader.withLockedValue({ $0 }) ? (groupA, b) : (groupB, a)
            await leaderGroup.triggerGracefulShutdown()
            #expect(await Self.until(Self.patience) { follower.coordinator.isLeader.withLockedValue { $0 } })
            await groupA.triggerGracefulShutdown()
            await groupB.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func anEnqueueOnOneCoordinatorWakesALongPollOnAnother() async throws {
        let (db, store) = try await TestDatabase.migrated("notify")
        defer { db.drop() }
        _ = try await store.upsertCustomers(TestFactory.customers(1))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("campaign-mc-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = Self.node(db, "a", dir: dir)
        let b = Self.node(db, "b", dir: dir)
        let group = ServiceGroup(services: [a.control, b.control, a.server, b.server], logger: Logger(label: "g"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await a.server.waitUntilListening()
            try await b.server.waitUntilListening()
            try await RPCClient.withConnection(socketPath: b.socketPath) { agent in
                _ = try await agent.call(AgentHello.self, .init(agentId: "on-b", capacity: 1, version: "t"))
                // Both coordinators' fallback polls are 10 minutes away: only a NOTIFY can wake this poll.
                async let leased = agent.call(LeaseJobs.self, .init(max: 1, waitMs: 240_000))
                #expect(await Self.until(Self.patience) { b.coordinator.signal.waiterCount == 1 })
                let start = ContinuousClock.now
                try await RPCClient.withConnection(socketPath: a.socketPath) { admin in
                    _ = try await admin.call(EnqueueJobs.self, .init(jobs: [.init(customerRef: "cust-0000")]))
                }
                let jobs = try await leased.jobs
                #expect(jobs.count == 1)
                print("cross-coordinator wake-up: \(ContinuousClock.now - start)")
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}
