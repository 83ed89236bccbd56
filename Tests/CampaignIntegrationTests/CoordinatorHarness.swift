import CampaignCoordinator
import CampaignProtocol
import CampaignRPC
import CampaignStore
import CampaignTestSupport
import Foundation
import Logging

/// A coordinator served on a real Unix socket in a temp directory, over a fresh database.
struct CoordinatorHarness: Sendable {
    let db: TestDatabase
    let store: PostgresJobStore
    let coordinator: Coordinator
    let socketPath: String

    static func run<R: Sendable>(
        _ label: String, maximumLineLength: Int = 1 << 20, maximumInFlight: Int = 128,
        fallbackPoll: Duration = .seconds(2), settings: AutomationSettings = .wideOpen, access: AccessPolicy = .default,
        _ body: @Sendable (CoordinatorHarness) async throws -> R
    ) async throws -> R {
        let (db, store) = try await TestDatabase.migrated(label)
        defer { db.drop() }
        try await store.writeSettings(settings, by: "test")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("campaign-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let socketPath = dir.appendingPathComponent("c.sock").path
        let logger = Logger(label: "test")
        var configuration = CoordinatorConfiguration(
            coordinatorID: "test", version: "test", fallbackPoll: fallbackPoll, access: access)
        // `health` waits for its reads here: these tests are not about its second, and the
        // machine running every suite at once can take longer than that.
        configuration.healthPatience = .seconds(60)
        // A cap the tests never reach, as the executable derives one from its file limit.
        configuration.maximumConnections = 65_464
        let coordinator = Coordinator(configuration: configuration, store: store, logger: logger)
        var serverConfiguration = RPCServer.Configuration(
            listen: .path(socketPath), maximumLineLength: maximumLineLength, maximumInFlight: maximumInFlight)
        serverConfiguration.maximumConnections = configuration.maximumConnections
        let server = RPCServer(configuration: serverConfiguration, router: coordinator.makeRouter(), logger: logger)
        let harness = CoordinatorHarness(db: db, store: store, coordinator: coordinator, socketPath: socketPath)
        return try await withThrowingTaskGroup(of: R?.self) { group in
            group.addTask {
                try await server.run()
                return nil
            }
            try await server.waitUntilListening()
            let result = try await body(harness)
            group.cancelAll()
            await store.pool.shutdown()
            return result
        }
    }

    /// Connects a client for `body`.
    func client<R: Sendable>(_ body: @escaping @Sendable (RPCClient) async throws -> R) async throws -> R {
        try await RPCClient.withConnection(socketPath: self.socketPath, body)
    }

    /// Polls `condition` (a SQL returning one boolean) until true or the deadline.
    func eventually(_ sql: String, within: Duration = .seconds(10)) async throws -> Bool {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            if try self.db.scalar(sql) == "t" { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }
}
