import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import CampaignTestSupport
import Logging
import NIOConcurrencyHelpers
import Testing

@testable import CampaignCoordinator

/// `jobs.lease` as a long poll on a clock the test moves, against a real PostgreSQL: the fallback
/// re-check finds work nobody signalled, and the deadline ends an empty poll, each exactly when
/// the clock gets there.
@Suite("Long poll")
struct LongPollTests {
    struct Scene {
        let db: TestDatabase
        let store: PostgresJobStore
        let timeouts: ManualTimeouts
        let coordinator: Coordinator
        let agents: AgentHandlers
        let ctx = RPCContext(connectionID: 1, peer: nil, logger: Logger(label: "long-poll"))
    }

    static func scene(_ label: String) async throws -> Scene {
        let (db, store) = try await TestDatabase.migrated(label)
        try await store.writeSettings(.wideOpen, by: "test")
        _ = try await store.upsertCustomers(TestFactory.customers(2))
        let timeouts = ManualTimeouts()
        let coordinator = Coordinator(
            configuration: .init(coordinatorID: "c", version: "t", fallbackPoll: .seconds(2)), store: store,
            logger: Logger(label: "long-poll"), clock: timeouts.coordinatorClock)
        let agents = AgentHandlers(coordinator: coordinator)
        let scene = Scene(db: db, store: store, timeouts: timeouts, coordinator: coordinator, agents: agents)
        _ = try await agents.hello(.init(agentId: "a", capacity: 5, version: "t"), scene.ctx)
        return scene
    }

    /// Waits until `condition` holds; records an issue if it does not within 60 s of real time
    /// (the poll's database round trips take real time; no timeout of the poll is involved).
    @discardableResult
    static func eventually(_ what: String, _ condition: () -> Bool) async -> Bool {
        let giveUp = ContinuousClock.now + .seconds(60)
        while !condition() && ContinuousClock.now < giveUp { try? await Task.sleep(for: .milliseconds(1)) }
        #expect(condition(), "\(what) did not happen")
        return condition()
    }

    @Test func theFallbackRecheckFindsWorkNobodySignalled() async throws {
        let s = try await Self.scene("longpoll-fallback")
        defer { s.db.drop() }
        let done = NIOLockedValueBox(false)
        let poll = Task {
            defer { done.withLockedValue { $0 = true } }
            return try await s.agents.lease(.init(max: 1, waitMs: 30_000), s.ctx)
        }
        await Self.eventually("the poll's first wait") { s.coordinator.signal.waiterCount == 1 && s.timeouts.pending == 1 }
        // A job becomes due with no wake-up here (the NOTIFY would go to a control connection,
        // which this coordinator does not have).
        _ = try await s.store.enqueue([EnqueueItem(customerRef: "cust-0000", queueJobId: "q-1")], defaultMaxAttempts: 3)
        s.timeouts.advance(by: .milliseconds(1999))
        #expect(!done.withLockedValue { $0 } && s.coordinator.signal.waiterCount == 1, "before the fallback poll: still waiting")
        s.timeouts.advance(by: .milliseconds(1))
        guard await Self.eventually("the poll's answer after the fallback re-check", { done.withLockedValue { $0 } }) else { return }
        let jobs = try await poll.value.jobs
        #expect(jobs.map(\.queueJobId) == ["q-1"])
    }

    @Test func anEmptyPollEndsAtItsDeadlineAndNotBefore() async throws {
        let s = try await Self.scene("longpoll-deadline")
        defer { s.db.drop() }
        let done = NIOLockedValueBox(false)
        let poll = Task {
            defer { done.withLockedValue { $0 = true } }
            return try await s.agents.lease(.init(max: 1, waitMs: 5_000), s.ctx)
        }
        // Two fallback re-checks (at 2 s and 4 s), then the last wait is cut to the deadline.
        for step in 1...2 {
            await Self.eventually("wait \(step)") { s.coordinator.signal.waiterCount == 1 && s.timeouts.pending == 1 }
            s.timeouts.advance(by: .seconds(2))
        }
        await Self.eventually("the last wait") { s.coordinator.signal.waiterCount == 1 && s.timeouts.pending == 1 }
        s.timeouts.advance(by: .milliseconds(999))
        #expect(!done.withLockedValue { $0 }, "1 ms before the deadline: still waiting")
        s.timeouts.advance(by: .milliseconds(1))
        guard await Self.eventually("the poll's answer at its deadline", { done.withLockedValue { $0 } }) else { return }
        #expect(try await poll.value.jobs.isEmpty)
        #expect(s.coordinator.signal.waiterCount == 0 && s.timeouts.pending == 0)
    }
}
