import CampaignCore
import Foundation

// Jobs for admins and scripts: jobs.enqueue, jobs.list, jobs.get, jobs.tally, jobs.retry, jobs.cancel.

/// `jobs.enqueue`: one or many jobs, idempotent on `queueJobId`.
public enum EnqueueJobs: RPCMethod {
    public static let name = "jobs.enqueue"
    public struct Params: Codable, Sendable, Equatable {
        public var jobs: [EnqueueItem]
        public init(jobs: [EnqueueItem]) { self.jobs = jobs }
    }
    public struct Result: Codable, Sendable, Equatable {
        /// Jobs created by this call.
        public var enqueued: Int
        /// Items whose `queueJobId` already existed: nothing was created for them.
        public var existing: Int
        public var rejected: [ItemError]
        /// The job id of each accepted item, in request order (`null` for rejected items).
        public var jobIds: [Int64?]
        public init(enqueued: Int, existing: Int, rejected: [ItemError], jobIds: [Int64?]) {
            self.enqueued = enqueued
            self.existing = existing
            self.rejected = rejected
            self.jobIds = jobIds
        }
    }
}

/// `jobs.list`: newest first, filtered, with cursor paging.
public enum ListJobs: RPCMethod {
    public static let name = "jobs.list"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        public var status: JobStatus?
        public var customerRef: String?
        /// Jobs of this campaign only.
        public var campaign: String?
        /// 1…1000, default 100.
        public var limit: Int?
        /// `nextCursor` of the previous page.
        public var cursor: String?
        /// Jobs last changed at or after / before these instants (RFC 3339).
        public var updatedSince: String?
        public var updatedBefore: String?
        /// Jobs whose `result.reason` is this (`outcome_unknown`, `reported`, `cancelled`, a rule…).
        public var reason: String?
        /// Jobs whose `result.outcome` is this.
        public var outcome: CallOutcome?
        public init(
            status: JobStatus? = nil, customerRef: String? = nil, limit: Int? = nil, cursor: String? = nil,
            updatedSince: String? = nil, updatedBefore: String? = nil, reason: String? = nil, outcome: CallOutcome? = nil,
            campaign: String? = nil
        ) {
            self.campaign = campaign
            self.status = status
            self.customerRef = customerRef
            self.limit = limit
            self.cursor = cursor
            self.updatedSince = updatedSince
            self.updatedBefore = updatedBefore
            self.reason = reason
            self.outcome = outcome
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var jobs: [JobView]
        public var nextCursor: String?
        public init(jobs: [JobView], nextCursor: String?) {
            self.jobs = jobs
            self.nextCursor = nextCursor
        }
    }
}

/// `jobs.get`: one job by `id` or `queueJobId`, with its call logs.
public enum GetJob: RPCMethod {
    public static let name = "jobs.get"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        public var id: Int64?
        public var queueJobId: String?
        public init(id: Int64? = nil, queueJobId: String? = nil) {
            self.id = id
            self.queueJobId = queueJobId
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var job: JobView
        public var callLogs: [CallLogView]
        public init(job: JobView, callLogs: [CallLogView]) {
            self.job = job
            self.callLogs = callLogs
        }
    }
}

/// `jobs.tally`: counts by status and by call outcome of the jobs' last result (of every
/// campaign, or of `campaign`).
public enum TallyJobs: RPCMethod {
    public static let name = "jobs.tally"
    public static let requiredRole = AccessRole.reader
    public typealias Params = CampaignParam
    public struct Result: Codable, Sendable, Equatable {
        public var byStatus: QueueCounts
        /// Keyed `STATUS/OUTCOME` (e.g. `COMPLETED/ANSWERED`, `FAILED/lease_expired`).
        public var byOutcome: [String: Int]
        public var callLogs: Int
        public init(byStatus: QueueCounts, byOutcome: [String: Int], callLogs: Int) {
            self.byStatus = byStatus
            self.byOutcome = byOutcome
            self.callLogs = callLogs
        }
    }
}

/// The answer of an admin change (`jobs.retry`, `jobs.cancel`) to a list of jobs.
public struct AdminChangeResult: Codable, Sendable, Equatable {
    /// Jobs changed, in request order.
    public var changed: [Int64]
    /// Jobs left as they were, with why.
    public var rejected: [JobRefusal]
    public init(changed: [Int64], rejected: [JobRefusal]) {
        self.changed = changed
        self.rejected = rejected
    }
}

/// A job an admin change did not apply to.
public struct JobRefusal: Codable, Sendable, Equatable {
    public var id: Int64
    /// The job's status, when it exists.
    public var status: JobStatus?
    /// `NOT_FOUND` or `INVALID_STATE`.
    public var code: String
    public init(id: Int64, status: JobStatus?, code: String) {
        self.id = id
        self.status = status
        self.code = code
    }
}

/// `jobs.retry`: FAILED or SKIPPED jobs go back to QUEUED, due now.
///
/// The attempts budget is *extended*, not reset: `maxAttempts` becomes `attemptsMade + attempts`,
/// so `attemptsMade` keeps counting every attempt ever started (it never decreases).
public enum RetryJobs: RPCMethod {
    public static let name = "jobs.retry"
    public struct Params: Codable, Sendable, Equatable {
        /// 1…1000 job ids.
        public var ids: [Int64]
        /// Further attempts allowed (1…100, default 1).
        public var attempts: Int?
        public init(ids: [Int64], attempts: Int? = nil) {
            self.ids = ids
            self.attempts = attempts
        }
    }
    public typealias Result = AdminChangeResult
}

/// `jobs.cancel`: QUEUED or ACTIVE jobs become SKIPPED `cancelled`. An agent on such a job
/// learns it at its next report (INVALID_STATE with `data.status` SKIPPED); a call already
/// placed is still logged.
public enum CancelJobs: RPCMethod {
    public static let name = "jobs.cancel"
    public struct Params: Codable, Sendable, Equatable {
        /// 1…1000 job ids.
        public var ids: [Int64]
        public init(ids: [Int64]) { self.ids = ids }
    }
    public typealias Result = AdminChangeResult
}
