import CampaignCore
import CampaignProtocol
import Foundation

// MARK: Unknown outcomes: lookups at the provider (issue 16)

extension PostgresJobStore {
    /// Up to `max` jobs FAILED `outcome_unknown` for an agent with a placer named `provider` to
    /// look up (``SQL/JobsReconcileLease``): none is handed out again within `intervalSeconds`,
    /// none after `windowSeconds` past its failure unless an admin asked.
    public func leaseUnknownCalls(
        max: Int, provider: String, intervalSeconds: Int, windowSeconds: Int
    ) async throws -> [UnknownCall] {
        try await self.pool.withConnection { conn in
            try conn.rows(SQL.JobsReconcileLease(
                max: max, provider: provider, intervalSeconds: intervalSeconds, windowSeconds: windowSeconds))
        }
    }

    /// `jobs.reconcileNow`: the jobs FAILED `outcome_unknown` among `ids` are due for a lookup now
    /// and for `windowSeconds` more; the others are rejected with their status.
    public func reconcileNow(ids: [Int64], windowSeconds: Int) async throws -> [Int64: AdminOutcome] {
        try await self.pool.transaction { conn in
            let changed = Set(try conn.rows(SQL.JobsReconcileNow(ids: ids, windowSeconds: windowSeconds)))
            let others = ids.filter { !changed.contains($0) }
            var outcomes: [Int64: AdminOutcome] = [:]
            for id in changed { outcomes[id] = .changed }
            if !others.isEmpty {
                for view in try conn.rows(SQL.JobsReportView(ids: others)) { outcomes[view.id] = .rejected(view.status) }
            }
            for id in others where outcomes[id] == nil { outcomes[id] = .notFound }
            return outcomes
        }
    }
}
