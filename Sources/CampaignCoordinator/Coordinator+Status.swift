import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

// `rpc.discover`, `health`, `agents.list`: what an operator asks of a running coordinator.

extension Coordinator {
    /// Registers the status methods.
    func registerStatusMethods(on r: GuardedRegistrar) {
        r.register(ListAgents.self) { _, _ in try await self.listAgents() }
        r.register(RPCDiscover.self) { _, _ in RPCDiscover.document }
        r.register(Health.self) { _, _ in try await self.health() }
    }

    func listAgents() async throws -> ListAgents.Result {
        let sessions = self.connectedAgents
        let held = try await self.db { try await self.store.leasesHeld(owners: sessions.map(\.leaseOwner)) }
        let roles = self.connections.withLockedValue { $0 }
        return ListAgents.Result(
            coordinator: self.configuration.coordinatorID,
            agents: sessions.map { s in
                AgentView(
                    agentId: s.agentId, version: s.version, capacity: s.capacity, connectionId: Int64(s.connectionID),
                    connectedAt: Timestamp.string(s.connectedAt), pid: s.peer?.pid, uid: s.peer?.uid, gid: s.peer?.gid,
                    unit: s.peer.flatMap { PeerIdentity.unit(pid: $0.pid) },
                    role: roles[s.connectionID]?.role ?? .reader, leasesHeld: held[s.leaseOwner] ?? 0, reports: s.reports)
            })
    }

    func health() async throws -> Health.Result {
        let uptime = Int((ContinuousClock.now - self.startedAt).components.seconds)
        let agents = self.sessions.withLockedValue { $0.count }
        do {
            let timezone = (try? await self.settingsCache.get())?.timezone ?? "UTC"
            let counts = try await self.store.counts(timezone: timezone)
            self.database.succeeded()
            return Health.Result(
                version: self.configuration.version, uptimeSeconds: uptime, database: "up",
                leader: self.isLeader.withLockedValue { $0 },
                agents: agents, queue: counts.queue, completedToday: counts.completedToday)
        } catch {
            // Health answers even when the database is down: that is what an operator wants to see.
            if let e = error as? StoreError, e.isUnavailable { self.database.unreachable(e, during: "health") }
            return Health.Result(
                version: self.configuration.version, uptimeSeconds: uptime, database: "down", leader: false,
                agents: agents, queue: QueueCounts(), completedToday: 0)
        }
    }
}
