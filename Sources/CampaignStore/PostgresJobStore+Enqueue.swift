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
            let rows = try conn.execute(SQL.jobsEnqueue, [
                PGArray.encode(Array(0..<items.count)),
                PGArray.encode(items.map { $0.customerId }),
                PGArray.encode(items.map { $0.customerRef }),
                PGArray.encode(items.map { $0.queueJobId }),
                PGArray.encode(items.map { $0.reason }),
                PGArray.encode(items.map { $0.priority }),
                PGArray.encode(items.map { $0.maxAttempts }),
                PGArray.encode(items.map { $0.runAt }),
                String(defaultMaxAttempts),
            ])
            let out = try rows.all.map { r in
                EnqueueRow(
                    index: try r.int("idx"), customerFound: r["cid"] != nil,
                    jobId: r["job_id"].flatMap { Int64($0) }, created: r.bool("created"))
            }
            if out.contains(where: \.created) { try self.notifyJobsAvailable(conn) }
            return out
        }
    }
}
