import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Reads

extension PostgresJobStore {
    /// Jobs as `jobs.list` filters them; `campaignId` is the id of `p.campaign`.
    public func listJobs(_ p: ListJobs.Params, campaignId: Int64? = nil) async throws -> ListJobs.Result {
        let limit = min(max(p.limit ?? 100, 1), 1000)
        let cursor: Int64? = p.cursor.flatMap { Int64($0) }
        return try await self.pool.withConnection { conn in
            let jobs = try conn.rows(SQL.JobsList(filter: p, campaignId: campaignId, limit: limit, before: cursor))
            return ListJobs.Result(jobs: jobs, nextCursor: jobs.count == limit ? jobs.last.map { String($0.id) } : nil)
        }
    }

    /// Call logs as `calls.list` filters them; `campaignId` is the id of `p.campaign`.
    public func listCalls(_ p: ListCalls.Params, campaignId: Int64? = nil) async throws -> ListCalls.Result {
        let limit = min(max(p.limit ?? 100, 1), 1000)
        return try await self.pool.withConnection { conn in
            let rows = try conn.rows(SQL.CallLogsList(filter: p, campaignId: campaignId, limit: limit))
            let next = rows.count == limit ? rows.last.map { ListCalls.Cursor(microseconds: $0.atMicroseconds, id: $0.call.id) } : nil
            return ListCalls.Result(calls: rows.map(\.call), nextCursor: next?.description)
        }
    }

    /// One job with its call logs, or nil.
    public func getJob(id: Int64?, queueJobId: String?) async throws -> GetJob.Result? {
        try await self.pool.withConnection { conn in
            guard let job = try conn.rows(SQL.JobsGet(id: id, queueJobId: queueJobId)).first else { return nil }
            return GetJob.Result(job: job, callLogs: try conn.rows(SQL.CallLogsForJob(jobId: job.id)))
        }
    }

    /// The jobs counted in one scan (``counts(timezone:)``).
    public struct JobCounts: Sendable {
        public var queue = QueueCounts()
        /// Completions since midnight in the default campaign's timezone.
        public var completedToday = 0
        public var byCampaign: [Int64: QueueCounts] = [:]
        /// Jobs FAILED `outcome_unknown` (a call that may have happened, never redialed by itself), by campaign.
        public var outcomeUnknown: [Int64: Int] = [:]
    }

    /// Queue counts by status, in all and per campaign, completions today (in the default
    /// campaign's `timezone`) and unknown outcomes per campaign.
    public func counts(timezone: String = "UTC") async throws -> JobCounts {
        try await self.pool.withConnection { conn in
            var c = JobCounts()
            for r in try conn.rows(SQL.JobsCountByStatus(timezone: timezone)) {
                if let s = JobStatus(rawValue: r.status) {
                    c.queue[s] += r.n
                    c.byCampaign[r.campaignId, default: QueueCounts()][s] += r.n
                }
                c.completedToday += r.today
                if r.unknown > 0 { c.outcomeUnknown[r.campaignId, default: 0] += r.unknown }
            }
            return c
        }
    }

    /// Seconds the longest-waiting due job of each campaign has waited (campaigns with none due are absent).
    public func oldestDue() async throws -> [Int64: Double] {
        try await self.pool.withConnection { conn in
            Dictionary(try conn.rows(SQL.JobsDueOldest()), uniquingKeysWith: { a, _ in a })
        }
    }

    /// Counts by status and outcome, of every campaign or of one.
    public func tally(campaignId: Int64? = nil) async throws -> TallyJobs.Result {
        try await self.pool.withConnection { conn in
            var q = QueueCounts()
            var byOutcome: [String: Int] = [:]
            for (status, outcome, n) in try conn.rows(SQL.JobsTally(campaignId: campaignId)) {
                if let s = JobStatus(rawValue: status) { q[s] += n }
                byOutcome[outcome.isEmpty ? status : "\(status)/\(outcome)", default: 0] += n
            }
            let logs = try conn.row(SQL.CallLogsCount(campaignId: campaignId))
            return TallyJobs.Result(byStatus: q, byOutcome: byOutcome, callLogs: logs)
        }
    }

    /// How many jobs each lease owner holds ACTIVE right now.
    public func leasesHeld(owners: [String]) async throws -> [String: Int] {
        guard !owners.isEmpty else { return [:] }
        return try await self.pool.withConnection { conn in
            Dictionary(try conn.rows(SQL.LeasesByOwner(owners: owners)), uniquingKeysWith: { a, _ in a })
        }
    }
}
