import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Enqueue

extension PostgresJobStore {
    /// Creates one job per item (idempotent on `queueJobId`, which must be set by the caller), in
    /// the campaign of the same index of `campaignIds` (nil: all in the default campaign).
    public func enqueue(_ items: [EnqueueItem], campaignIds: [Int64]? = nil, defaultMaxAttempts: Int) async throws -> [EnqueueRow] {
        guard !items.isEmpty else { return [] }
        return try await self.pool.transaction { conn in
            let out = try conn.rows(SQL.JobsEnqueue(items: items, campaignIds: campaignIds, defaultMaxAttempts: defaultMaxAttempts))
            if out.contains(where: \.created) { try self.notifyJobsAvailable(conn) }
            return out
        }
    }
}
