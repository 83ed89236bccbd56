import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Enqueue

extension PostgresJobStore {
    /// Creates one job per item (idempotent on `queueJobId`, which must be set by the caller).
    public func enqueue(_ items: [EnqueueItem], defaultMaxAttempts: Int) async throws -> [EnqueueRow] {
        guard !items.isEmpty else { return [] }
        return try await self.pool.transaction { conn in
            let out = try conn.rows(SQL.JobsEnqueue(items: items, defaultMaxAttempts: defaultMaxAttempts))
            if out.contains(where: \.created) { try self.notifyJobsAvailable(conn) }
            return out
        }
    }
}
