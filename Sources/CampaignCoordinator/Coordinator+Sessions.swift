import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

// Connections and agent sessions: the router's connection observer and the access check of every
// call (DESIGN §6).

extension Coordinator {
    public var connectedAgents: [AgentSession] {
        self.sessions.withLockedValue { Array($0.values) }.sorted { $0.connectionID < $1.connectionID }
    }

    public func connectionOpened(_ context: RPCContext) async {
        let peer = context.peer.map(PeerIdentity.resolve)
        let role = self.configuration.access.role(of: peer, ownUID: self.configuration.ownUID)
        self.connections.withLockedValue { $0[context.connectionID] = ConnectionInfo(role: role, peer: context.peer) }
        context.logger.debug(
            "connection opened",
            metadata: [
                "peer.uid": "\(context.peer.map { String($0.uid) } ?? "?")",
                "peer.pid": "\(context.peer.map { String($0.pid) } ?? "?")", "role": "\(role?.rawValue ?? "none")",
            ])
    }

    /// Refuses a method the connection's role does not allow (FORBIDDEN).
    func authorize<M: RPCMethod>(_ method: M.Type, _ ctx: RPCContext) throws {
        let role = self.connections.withLockedValue { $0[ctx.connectionID]?.role }
        guard let role, role >= M.requiredRole else {
            let who = ctx.peer.map { "uid \($0.uid)" } ?? "an unidentified peer"
            throw RPCError(
                .forbidden, "\(M.name) needs the \(M.requiredRole.rawValue) role; \(who) has \(role?.rawValue ?? "none")",
                details: ["required": .string(M.requiredRole.rawValue), "role": role.map { .string($0.rawValue) } ?? .null])
        }
    }

    public func connectionInputEnded(_ context: RPCContext) async {
        self.signal.connectionInputEnded(context.connectionID)
    }

    public func connectionClosed(_ context: RPCContext) async {
        self.signal.connectionClosed(context.connectionID)
        self.connections.withLockedValue { _ = $0.removeValue(forKey: context.connectionID) }
        guard let session = self.sessions.withLockedValue({ $0.removeValue(forKey: context.connectionID) }) else {
            return
        }
        await self.agentsChanged.withLockedValue({ $0 })?()
        do {
            let released = try await self.store.releaseClaimed(owner: session.leaseOwner)
            context.logger.info(
                "agent disconnected", metadata: ["agent.id": "\(session.agentId)", "released": "\(released.count)"])
            if !released.isEmpty { self.wakeLeasers() }
        } catch {
            // The leases expire on their own; the sweep returns them to the queue.
            context.logger.warning(
                "agent disconnected; releasing its claimed jobs failed, they return at lease expiry",
                metadata: ["agent.id": "\(session.agentId)", "error": "\(error)"])
        }
    }

    func session(_ ctx: RPCContext) throws -> AgentSession {
        guard let s = self.sessions.withLockedValue({ $0[ctx.connectionID] }) else {
            throw RPCError(.invalidState, "call agent.hello first on this connection")
        }
        return s
    }
}
