import CampaignCore
import Foundation

// The agent side of the protocol: agent.hello, jobs.lease and the reports.

/// `agent.hello`: an agent introduces itself on a new connection.
public enum AgentHello: RPCMethod {
    public static let name = "agent.hello"
    public static let requiredRole = AccessRole.agent
    public struct Params: Codable, Sendable, Equatable {
        public var agentId: String
        public var capacity: Int
        public var version: String
        /// Leases the agent still holds from before this connection (after its link or the
        /// coordinator restarted). Those whose tokens are still current move to this connection
        /// and are renewed by this coordinator from now on.
        public var leases: [HeldLease]?
        public init(agentId: String, capacity: Int, version: String, leases: [HeldLease]? = nil) {
            self.agentId = agentId
            self.capacity = capacity
            self.version = version
            self.leases = leases
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var coordinatorVersion: String
        public var leaseSeconds: Int
        /// The held leases taken over (ids); the others are gone (their reports get LEASE_LOST).
        public var adoptedLeases: [Int64]
        public init(coordinatorVersion: String, leaseSeconds: Int, adoptedLeases: [Int64] = []) {
            self.coordinatorVersion = coordinatorVersion
            self.leaseSeconds = leaseSeconds
            self.adoptedLeases = adoptedLeases
        }
        enum CodingKeys: String, CodingKey { case coordinatorVersion, leaseSeconds, adoptedLeases }
        /// `adoptedLeases` may be absent (a coordinator that adopted nothing may omit it).
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.coordinatorVersion = try c.decode(String.self, forKey: .coordinatorVersion)
            self.leaseSeconds = try c.decode(Int.self, forKey: .leaseSeconds)
            self.adoptedLeases = try c.decodeIfPresent([Int64].self, forKey: .adoptedLeases) ?? []
        }
    }
}

/// A lease an agent holds: the job and the lease's fencing token.
public struct HeldLease: Codable, Sendable, Hashable {
    public var jobId: Int64
    public var leaseToken: String
    public init(jobId: Int64, leaseToken: String) {
        self.jobId = jobId
        self.leaseToken = leaseToken
    }
}

/// `jobs.lease`: up to `max` jobs; waits up to `waitMs` for one when none is due (long poll).
public enum LeaseJobs: RPCMethod {
    public static let name = "jobs.lease"
    public static let requiredRole = AccessRole.agent
    public struct Params: Codable, Sendable, Equatable {
        public var max: Int
        public var waitMs: Int?
        /// Lease and pass the pre-dial check at once: every job returned is already ACTIVE/DIALING
        /// with its `idempotencyKey` (dial it now; do not call `jobs.dialing`). The business rules
        /// and provider limits are checked in the lease's own transaction, exactly as
        /// `jobs.dialing` would check them: jobs a rule refuses are SKIPPED and listed in
        /// `refused`; jobs a provider limit holds back are not leased at all (they stay QUEUED).
        public var dial: Bool?
        public init(max: Int, waitMs: Int? = nil, dial: Bool? = nil) {
            self.max = max
            self.waitMs = waitMs
            self.dial = dial
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var jobs: [LeasedJob]
        /// With `dial: true`: jobs leased and refused by a business rule (now SKIPPED with it).
        public var refused: [DialRefusal]?
        public init(jobs: [LeasedJob], refused: [DialRefusal]? = nil) {
            self.jobs = jobs
            self.refused = refused
        }
    }
}

/// A job that `jobs.lease` with `dial: true` leased and found refused by a rule (now SKIPPED).
public struct DialRefusal: Codable, Sendable, Equatable {
    public var jobId: Int64
    public var rule: String
    public init(jobId: Int64, rule: String) {
        self.jobId = jobId
        self.rule = rule
    }
}

/// `jobs.dialing`: the last check before a call. Allowed → ACTIVE/DIALING with an idempotency key;
/// refused → the job is SKIPPED with the rule's name as reason.
public enum DialingJob: RPCMethod {
    public static let name = "jobs.dialing"
    public static let requiredRole = AccessRole.agent
    public struct Params: Codable, Sendable, Equatable {
        public var jobId: Int64
        public var leaseToken: String
        public init(jobId: Int64, leaseToken: String) {
            self.jobId = jobId
            self.leaseToken = leaseToken
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var allowed: Bool
        /// `<queueJobId>#<attempt>`: pass it to the provider. Present when allowed.
        public var idempotencyKey: String?
        /// The rule that said no, when not allowed: the job is then SKIPPED (a rule waiting will
        /// not change), or QUEUED again until `runAt` (outside the working hours, the cooldown,
        /// today's cap: its attempt is given back).
        public var rule: String?
        public var status: JobStatus
        /// Set when a provider limit (concurrent calls, calls per second) says "not yet": the job
        /// stays ACTIVE/CLAIMED with its lease; ask again after this many milliseconds.
        public var retryAfterMs: Int?
        /// When a deferred job is due again (RFC 3339): the next instant the rules allow the call.
        public var runAt: String?
        public init(
            allowed: Bool, idempotencyKey: String?, rule: String?, status: JobStatus, retryAfterMs: Int? = nil,
            runAt: String? = nil
        ) {
            self.allowed = allowed
            self.idempotencyKey = idempotencyKey
            self.rule = rule
            self.status = status
            self.retryAfterMs = retryAfterMs
            self.runAt = runAt
        }
    }
}

/// `jobs.complete`: the call ended with an outcome that completes the job.
public enum CompleteJob: RPCMethod {
    public static let name = "jobs.complete"
    public static let requiredRole = AccessRole.agent
    public struct Params: Codable, Sendable, Equatable {
        public var jobId: Int64
        public var leaseToken: String
        public var outcome: CallOutcome
        public var call: CallRecord?
        public init(jobId: Int64, leaseToken: String, outcome: CallOutcome, call: CallRecord?) {
            self.jobId = jobId
            self.leaseToken = leaseToken
            self.outcome = outcome
            self.call = call
        }
    }
    public typealias Result = ReportResult
}

/// `jobs.fail`: the attempt failed; `retryable` re-queues with backoff while attempts are left.
public enum FailJob: RPCMethod {
    public static let name = "jobs.fail"
    public static let requiredRole = AccessRole.agent
    public struct Params: Codable, Sendable, Equatable {
        public var jobId: Int64
        public var leaseToken: String
        public var retryable: Bool
        public var error: String
        public var outcome: CallOutcome?
        public var call: CallRecord?
        /// True when a call was (maybe) placed but its end could not be learned: the job fails for
        /// good with reason `outcome_unknown` (while DIALING), never redialed by itself.
        public var outcomeUnknown: Bool?
        /// True when the provider said it has no call under the attempt's key (a lookup of
        /// `jobs.reconcile`): a job FAILED `outcome_unknown` goes back to the queue, due now, with
        /// one more attempt (a fresh key). The only redial of an unknown outcome, and only on the
        /// provider's word.
        public var notPlaced: Bool?
        public init(
            jobId: Int64, leaseToken: String, retryable: Bool, error: String, outcome: CallOutcome?,
            call: CallRecord?, outcomeUnknown: Bool? = nil, notPlaced: Bool? = nil
        ) {
            self.notPlaced = notPlaced
            self.jobId = jobId
            self.leaseToken = leaseToken
            self.retryable = retryable
            self.error = error
            self.outcome = outcome
            self.call = call
            self.outcomeUnknown = outcomeUnknown
        }
    }
    public typealias Result = ReportResult
}

/// `jobs.skip`: the agent decided, before dialing, not to call (a business rule).
public enum SkipJob: RPCMethod {
    public static let name = "jobs.skip"
    public static let requiredRole = AccessRole.agent
    public struct Params: Codable, Sendable, Equatable {
        public var jobId: Int64
        public var leaseToken: String
        public var reason: String
        public init(jobId: Int64, leaseToken: String, reason: String) {
            self.jobId = jobId
            self.leaseToken = leaseToken
            self.reason = reason
        }
    }
    public typealias Result = ReportResult
}

/// `jobs.report`: several reports in one request — what an agent sends for the calls that ended
/// while its previous report request was on its way. Each report is applied exactly as its own
/// `jobs.complete` / `jobs.fail` / `jobs.skip` would be (same checks, same answers, same
/// replays), all of them in the same group commit; each gets its own answer, in order, so one
/// refused report (a lost lease, say) does not hold back the others.
public enum ReportJobs: RPCMethod {
    public static let name = "jobs.report"
    public static let requiredRole = AccessRole.agent
    /// Most reports in one request.
    public static let maximumReports = 1000
    public struct Params: Codable, Sendable, Equatable {
        public var reports: [JobReport]
        public init(reports: [JobReport]) { self.reports = reports }
    }
    public struct Result: Codable, Sendable, Equatable {
        /// One per report, in the order given.
        public var results: [JobReportAnswer]
        public init(results: [JobReportAnswer]) { self.results = results }
    }
}

/// One report of `jobs.report`: exactly one of the three members, with the params of the method
/// of that name.
public struct JobReport: Codable, Sendable, Equatable {
    public var complete: CompleteJob.Params?
    public var fail: FailJob.Params?
    public var skip: SkipJob.Params?
    public init(complete: CompleteJob.Params? = nil, fail: FailJob.Params? = nil, skip: SkipJob.Params? = nil) {
        self.complete = complete
        self.fail = fail
        self.skip = skip
    }
    public static func complete(_ p: CompleteJob.Params) -> JobReport { JobReport(complete: p) }
    public static func fail(_ p: FailJob.Params) -> JobReport { JobReport(fail: p) }
    public static func skip(_ p: SkipJob.Params) -> JobReport { JobReport(skip: p) }
}

/// The answer to one report of `jobs.report`: the `result` its own method would have answered,
/// or the `error` object it would have answered with.
public struct JobReportAnswer: Codable, Sendable, Equatable {
    public var result: ReportResult?
    public var error: RPCError?
    public init(result: ReportResult? = nil, error: RPCError? = nil) {
        self.result = result
        self.error = error
    }
}
