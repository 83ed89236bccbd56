import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging

/// Unknown outcomes settled from the provider (issue 16): `jobs.reconcile` hands agents the jobs
/// to look up, `jobs.reconcileNow` lets an admin ask for lookups. What a lookup learns comes back
/// as a normal late report (``AgentHandlers``).
struct ReconcileHandlers: MethodGroup {
    let coordinator: Coordinator

    /// The window an admin's `jobs.reconcileNow` opens when the deployment's own is shorter.
    static let minimumAskedWindowSeconds = 3600

    func register(on router: RPCRouter) {
        let c = self.coordinator
        router.register(ReconcileJobs.self) { p, ctx in
            let session = try c.sessions.session(ctx)
            let settings = try await c.settings()
            let calls = try await c.db {
                try await c.store.leaseUnknownCalls(
                    max: p.max, provider: p.provider, intervalSeconds: settings.reconcileIntervalSeconds,
                    windowSeconds: settings.reconcileWindowSeconds)
            }
            if !calls.isEmpty {
                ctx.logger.debug(
                    "unknown outcomes handed out for a lookup",
                    metadata: ["agent.id": "\(session.agentId)", "jobs": "\(calls.count)"])
            }
            return ReconcileJobs.Result(calls: calls)
        }
        router.register(ReconcileJobsNow.self) { p, ctx in
            let settings = try await c.settings()
            let window = max(settings.reconcileWindowSeconds, Self.minimumAskedWindowSeconds)
            let outcomes = try await c.db { try await c.store.reconcileNow(ids: p.ids, windowSeconds: window) }
            let result = JobHandlers.result(ids: p.ids, outcomes)
            ctx.logger.notice(
                "lookups of unknown outcomes asked by an admin",
                metadata: ["jobs": "\(result.changed.count)", "by": "\(CampaignHandlers.by(ctx))"])
            return result
        }
    }
}
