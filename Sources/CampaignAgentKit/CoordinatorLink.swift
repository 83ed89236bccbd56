import CampaignProtocol
import CampaignRPC
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Keeps the agent's one connection to the coordinator: connects, says `agent.hello`, and when
/// the coordinator is not there yet or goes away, reconnects with jittered exponential backoff
/// instead of exiting.
public final class CoordinatorLink: Service, Sendable {
    public struct Configuration: Sendable {
        public var socketPath: String
        /// The `agent.hello` to send on each new connection (it names the leases held right then).
        public var hello: @Sendable () -> AgentHello.Params
        public var initialBackoff: Duration
        public var maximumBackoff: Duration
        /// Called each time the link is up and introduced (the agent sends READY=1 the first time).
        public var onConnected: (@Sendable () -> Void)?
        public init(
            socketPath: String, hello: @escaping @Sendable () -> AgentHello.Params,
            initialBackoff: Duration = .milliseconds(100), maximumBackoff: Duration = .seconds(5),
            onConnected: (@Sendable () -> Void)? = nil
        ) {
            self.socketPath = socketPath
            self.hello = hello
            self.onConnected = onConnected
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
        }
    }

    private struct State {
        var client: RPCClient?
        var stopped = false
    }

    private let configuration: Configuration
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// True while connected and introduced.
    public var isConnected: Bool { self.state.withLockedValue { $0.client != nil } }

    /// The connected client, waiting up to `timeout` for one; nil when there is none by then
    /// (or once the link stopped).
    public func client(waitingUpTo timeout: Duration) async -> RPCClient? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (client, stopped) = self.state.withLockedValue { ($0.client, $0.stopped) }
            if let client, !client.isClosed { return client }
            if stopped || ContinuousClock.now >= deadline { return nil }
            // Connection changes are rare; a short sleep is simpler than a wait list and costs nothing.
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    public func run() async throws {
        var backoff = self.configuration.initialBackoff
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully {
                do {
                    try await RPCClient.withConnection(socketPath: self.configuration.socketPath) { client in
                        let hello = self.configuration.hello()
                        let answer = try await client.call(AgentHello.self, hello)
                        self.logger.info(
                            "connected to coordinator",
                            metadata: [
                                "leases.held": "\(hello.leases?.count ?? 0)",
                                "leases.adopted": "\(answer.adoptedLeases.count)",
                            ])
                        self.setClient(client)
                        self.configuration.onConnected?()
                        await withGracefulShutdownHandler {
                            await client.waitClosed()
                        } onGracefulShutdown: {
                            client.close()
                        }
                        self.setClient(nil)
                    }
                    backoff = self.configuration.initialBackoff
                    if !Task.isShuttingDownGracefully { self.logger.warning("coordinator connection lost") }
                } catch {
                    self.setClient(nil)
                    self.logger.warning(
                        "cannot reach coordinator, retrying", metadata: ["error": "\(error)", "in": "\(backoff)"])
                }
                if Task.isShuttingDownGracefully { break }
                // Full jitter keeps a fleet of agents from reconnecting in lockstep.
                let ms = Int64(Double(backoff.components.seconds * 1000 + backoff.components.attoseconds / 1_000_000_000_000_000) * Double.random(in: 0.5...1))
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(ms)) }
                backoff = min(backoff * 2, self.configuration.maximumBackoff)
            }
        } onGracefulShutdown: {}
        self.stop()
    }

    private func setClient(_ client: RPCClient?) {
        self.state.withLockedValue { $0.client = client }
    }

    private func stop() {
        self.state.withLockedValue { s in
            s.stopped = true
            s.client = nil
        }
    }
}
