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
            var changed: [Int64] = []
            var rejected: [JobRefusal] = []
            for id in p.ids {
                switch outcomes[id] {
                case .changed?: changed.append(id)
                case .rejected(let status)?:
                    rejected.append(JobRefusal(id: id, status: status, code: RPCErrorCode.invalidState.name))
                case .notFound?, nil: rejected.append(JobRefusal(id: id, status: nil, code: RPCErrorCode.notFound.name))
                }
            }
            ctx.logger.notice(
                "lookups of unknown outcomes asked by an admin",
                metadata: ["jobs": "\(changed.count)", "by": "\(CampaignHandlers.by(ctx))"])
            return AdminChangeResult(changed: changed, rejected: rejected)
        }
    }
}
