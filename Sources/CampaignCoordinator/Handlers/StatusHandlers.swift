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

    /// Answers within a second, also when the database is down or does not answer: that is when
    /// an operator needs it. The counts are then the last ones seen, with `countsAt`.
    func health() async -> Health.Result {
        let c = self.coordinator
        let uptime = Int((ContinuousClock.now - c.startedAt).components.seconds)
        let (finished, fresh, last) = await c.healthReads.counts(patience: c.configuration.healthPatience) {
            do {
                let book = try await c.settingsCache.book()
                let counts = try await c.store.counts(timezone: book.default.settings.timezone)
                let open = book.campaigns.filter { $0.status != .ended }
                let calls = try await c.store.callCounts(open.map { ($0.id, $0.settings.timezone) })
                c.database.succeeded()
                return HealthReads.Counts(
                    queue: counts.queue, completedToday: counts.completedToday,
                    campaigns: open.sorted { $0.name < $1.name }.map { k in
                        CampaignHealth(
                            name: k.name, status: k.status, queue: counts.byCampaign[k.id] ?? QueueCounts(),
                            dialing: calls[k.id]?.dialing ?? 0, callsToday: calls[k.id]?.today ?? 0)
                    })
            } catch let e as StoreError where e.isUnavailable {
                c.database.unreachable(e, during: "health")
                return nil
            } catch {
                c.logger.error("health: reading the counts failed", metadata: ["error": "\(error)"])
                return nil
            }
        }
        if !finished { c.database.noAnswer(during: "health") }
        let (condition, since) = fresh == nil ? c.database.condition : (.up, nil)
        let counts = fresh ?? last?.counts ?? HealthReads.Counts()
        return Health.Result(
            version: c.configuration.version, uptimeSeconds: uptime, database: condition.rawValue,
            databaseSince: since.map(Timestamp.string), leader: c.isLeader.withLockedValue { $0 },
            agents: c.sessions.count,
            connections: ConnectionCounts(open: c.sessions.connectionCount, limit: c.configuration.maximumConnections),
            queue: counts.queue, completedToday: counts.completedToday, campaigns: counts.campaigns,
            countsAt: fresh == nil ? last.map { Timestamp.string($0.at) } : nil)
    }
}
