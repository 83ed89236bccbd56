import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging

/// `rpc.discover`, `health`, `metrics`, `agents.list`: what an operator asks of a running coordinator.
struct StatusHandlers: MethodGroup {
    let coordinator: Coordinator

    func register(on router: RPCRouter) {
        router.register(ListAgents.self) { _, _ in try await self.listAgents() }
        router.register(RPCDiscover.self) { _, _ in RPCDiscover.document }
        router.register(Health.self) { _, _ in await self.health() }
        router.register(MetricsText.self) { _, _ in
            MetricsText.Result(contentType: MetricsText.contentType, exposition: await self.coordinator.renderMetrics())
        }
    }

    func listAgents() async throws -> ListAgents.Result {
        let c = self.coordinator
        let sessions = c.sessions.connected
        let held = try await c.db { try await c.store.leasesHeld(owners: sessions.map(\.leaseOwner)) }
        let roles = c.sessions.roles
        return ListAgents.Result(
            coordinator: c.configuration.coordinatorID,
            agents: sessions.map { s in
                AgentView(
                    agentId: s.agentId, version: s.version, capacity: s.capacity, connectionId: Int64(s.connectionID),
                    connectedAt: Timestamp.string(s.connectedAt), pid: s.peer?.pid, uid: s.peer?.uid, gid: s.peer?.gid,
                    unit: s.peer.flatMap { PeerIdentity.unit(pid: $0.pid) },
                    role: (roles[s.connectionID] ?? nil) ?? .reader, leasesHeld: held[s.leaseOwner] ?? 0, reports: s.reports)
            })
    }

    /// Answers even when the database is down: that is what an operator wants to see.
    func health() async -> Health.Result {
        let c = self.coordinator
        let uptime = Int((ContinuousClock.now - c.startedAt).components.seconds)
        let agents = c.sessions.count
        do {
            let book = try await c.settingsCache.book()
            let counts = try await c.store.counts(timezone: book.default.settings.timezone)
            let open = book.campaigns.filter { $0.status != .ended }
            let calls = try await c.store.callCounts(open.map { ($0.id, $0.settings.timezone) })
            c.database.succeeded()
            return Health.Result(
                version: c.configuration.version, uptimeSeconds: uptime, database: "up",
                leader: c.isLeader.withLockedValue { $0 },
                agents: agents, queue: counts.queue, completedToday: counts.completedToday,
                campaigns: open.sorted { $0.name < $1.name }.map { k in
                    CampaignHealth(
                        name: k.name, status: k.status, queue: counts.byCampaign[k.id] ?? QueueCounts(),
                        dialing: calls[k.id]?.dialing ?? 0, callsToday: calls[k.id]?.today ?? 0)
                })
        } catch {
            if let e = error as? StoreError, e.isUnavailable { c.database.unreachable(e, during: "health") }
            return Health.Result(
                version: c.configuration.version, uptimeSeconds: uptime, database: "down", leader: false,
                agents: agents, queue: QueueCounts(), completedToday: 0)
        }
    }
}
