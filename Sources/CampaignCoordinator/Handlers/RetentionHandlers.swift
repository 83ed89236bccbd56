import CampaignProtocol
import CampaignRPC
import Foundation

/// Housekeeping: `retention.prune` (the leader's hourly pass, on demand, or counted only).
struct RetentionHandlers: MethodGroup {
    let coordinator: Coordinator

    func register(on router: RPCRouter) {
        let c = self.coordinator
        router.register(PruneRetention.self) { p, ctx in
            let setting = try await c.settings(fresh: true).retention
            let now = Date()
            let cutoffs = setting.policy.cutoffs(now: now.timeIntervalSince1970)
            let dryRun = p.dryRun ?? false
            let deleted = try await c.db {
                dryRun ? try await c.store.prunable(cutoffs) : try await c.retention.pass(setting.policy, now: now)
            }
            if !dryRun {
                ctx.logger.notice("retention.prune", metadata: ["deleted": "\(deleted.total)"])
            }
            return PruneRetention.Result(dryRun: dryRun, deleted: deleted, retention: setting, before: PruneCutoffs(cutoffs))
        }
    }
}
