import CampaignCore
import CampaignProtocol

// MARK: Retention

extension PostgresJobStore {
    /// Deletes the finished jobs past their cutoff in the slice of `scan` jobs after id `after`
    /// (one short transaction). Returns the slice's last id (nil: no job after `after`) and what went.
    public func pruneJobs(after: Int64, scan: Int, cutoffs: Retention.Cutoffs) async throws -> (lastId: Int64?, deleted: PruneCounts) {
        try await self.pool.withConnection { conn in
            let r = try SQL.JobsPruneSlice.row(conn.run(SQL.JobsPruneSlice(after: after, scan: scan, cutoffs: cutoffs)))
            return (r.lastId, PruneCounts(completed: r.completed, skipped: r.skipped, failed: r.failed))
        }
    }

    /// Deletes up to `limit` of the oldest call logs older than `before`; returns how many went.
    public func pruneCallLogs(before: Double?, limit: Int) async throws -> Int {
        guard before != nil else { return 0 }
        return try await self.pool.withConnection { conn in
            try SQL.CallLogsPrune.row(conn.run(SQL.CallLogsPrune(before: before, limit: limit)))
        }
    }

    /// Deletes up to `limit` of the oldest rows of each audit table older than `before` (the
    /// call logs' cutoff); returns how many went.
    public func pruneAudit(before: Double?, limit: Int) async throws -> Int {
        guard before != nil else { return 0 }
        return try await self.pool.withConnection { conn in
            try SQL.AuditPrune.row(conn.run(SQL.AuditPrune(before: before, limit: limit)))
        }
    }

    /// Deletes, of the `limit` oldest events, those older than `before`; returns how many went.
    public func pruneEvents(before: Double?, limit: Int) async throws -> Int {
        guard before != nil else { return 0 }
        return try await self.pool.withConnection { conn in
            try SQL.EventsPrune.row(conn.run(SQL.EventsPrune(before: before, limit: limit)))
        }
    }

    /// What `cutoffs` would delete now.
    public func prunable(_ cutoffs: Retention.Cutoffs) async throws -> PruneCounts {
        try await self.pool.withConnection { conn in
            try SQL.RetentionPrunable.row(conn.run(SQL.RetentionPrunable(cutoffs: cutoffs)))
        }
    }
}
