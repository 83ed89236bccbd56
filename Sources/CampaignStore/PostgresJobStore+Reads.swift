import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Reads

extension PostgresJobStore {
    public func listJobs(_ p: ListJobs.Params) async throws -> ListJobs.Result {
        let limit = min(max(p.limit ?? 100, 1), 1000)
        let cursor: Int64? = p.cursor.flatMap { Int64($0) }
        return try await self.pool.withConnection { conn in
            let rows = try conn.execute(SQL.jobsList, [
                p.status?.rawValue, p.customerRef, String(limit), cursor.map { String($0) },
                p.updatedSince, p.updatedBefore, p.reason, p.outcome?.rawValue,
            ])
            let jobs = try rows.all.map(JobView.init(row:))
            return ListJobs.Result(jobs: jobs, nextCursor: jobs.count == limit ? jobs.last.map { String($0.id) } : nil)
        }
    }

    /// One job with its call logs, or nil.
    public func getJob(id: Int64?, queueJobId: String?) async throws -> GetJob.Result? {
        try await self.pool.withConnection { conn in
            let rows = try conn.execute(SQL.jobsGet, [id.map { String($0) }, queueJobId])
            guard rows.count > 0 else { return nil }
            let job = try JobView(row: rows.row(0))
            let logs = try conn.execute(SQL.callLogsForJob, [String(job.id)]).all.map { r in
                CallLogView(
                    id: try r.int64("id"), jobId: try r.int64("job_id"), attempt: try r.int("attempt"),
                    agent: try r.string("agent"), provider: try r.string("provider"),
                    providerCallId: r["provider_call_id"], idempotencyKey: try r.string("idempotency_key"),
                    startedAt: r["started_at"], endedAt: r["ended_at"],
                    outcome: CallOutcome(rawValue: try r.string("outcome")) ?? .failed,
                    durationMs: r.optionalInt("duration_ms"), detail: JSONText.decode(r["detail"]))
            }
            return GetJob.Result(job: job, callLogs: logs)
        }
    }

    /// Queue counts by status and completions today (in the campaign `timezone`).
    public func counts(timezone: String = "UTC") async throws -> (queue: QueueCounts, completedToday: Int) {
        try await self.pool.withConnection { conn in
            var q = QueueCounts()
            var today = 0
            for r in try conn.execute(SQL.jobsCountByStatus, [timezone]).all {
                if let s = JobStatus(rawValue: try r.string("status")) { q[s] = try r.int("n") }
                today += r.optionalInt("today") ?? 0
            }
            return (q, today)
        }
    }

    public func tally() async throws -> TallyJobs.Result {
        try await self.pool.withConnection { conn in
            var q = QueueCounts()
            var byOutcome: [String: Int] = [:]
            for r in try conn.execute(SQL.jobsTally).all {
                let status = try r.string("status")
                let n = try r.int("n")
                if let s = JobStatus(rawValue: status) { q[s] += n }
                let outcome = r["outcome"] ?? ""
                byOutcome[outcome.isEmpty ? status : "\(status)/\(outcome)", default: 0] += n
            }
            let logs = try conn.execute(SQL.callLogsCount).row(0).int("n")
            return TallyJobs.Result(byStatus: q, byOutcome: byOutcome, callLogs: logs)
        }
    }

    /// How many jobs each lease owner holds ACTIVE right now.
    public func leasesHeld(owners: [String]) async throws -> [String: Int] {
        guard !owners.isEmpty else { return [:] }
        return try await self.pool.withConnection { conn in
            var held: [String: Int] = [:]
            for r in try conn.execute(SQL.leasesByOwner, [PGArray.encode(owners)]).all {
                held[try r.string("lease_owner")] = try r.int("n")
            }
            return held
        }
    }
}
