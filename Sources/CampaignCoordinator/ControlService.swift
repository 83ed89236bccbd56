import CampaignStore
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import ServiceLifecycle

/// Runs the coordinator's control connection (leader lock + LISTEN) on a thread of its own,
/// feeding leadership changes and other coordinators' wake-ups into the ``Coordinator``.
public final class ControlService: Service, Sendable {
    private let control: ControlConnection
    private let coordinator: Coordinator
    private let stop = NIOLockedValueBox(false)
    private let thread = NIOThreadPool(numberOfThreads: 1)

    public init(control: ControlConnection, coordinator: Coordinator) {
        self.control = control
        self.coordinator = coordinator
    }

    public func run() async throws {
        self.thread.start()
        let coordinator = self.coordinator
        let events = ControlConnection.Events(
            jobsAvailable: { coordinator.signal.notifyAll() },
            leadership: { leader in coordinator.isLeader.withLockedValue { $0 = leader } })
        await withGracefulShutdownHandler {
            _ = try? await self.thread.runIfActive {
                self.control.run(events: events, shouldStop: { self.stop.withLockedValue { $0 } })
            }
        } onGracefulShutdown: {
            self.stop.withLockedValue { $0 = true }
        }
        coordinator.isLeader.withLockedValue { $0 = false }
        try? await self.thread.shutdownGracefully()
    }
}
