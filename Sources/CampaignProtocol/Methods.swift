import CampaignCore
import Foundation

// One type per method of the protocol (DESIGN §6). `protocol/openrpc.json` describes the same.

/// `rpc.discover`: the OpenRPC document of the protocol (`protocol/openrpc.json`, built in).
public enum RPCDiscover: RPCMethod {
    public static let name = "rpc.discover"
    public static let requiredRole = AccessRole.reader
    public typealias Params = NoParams
    public typealias Result = JSONValue

    /// The document, parsed once. (A document that does not parse fails the unit tests; at run
    /// time it would answer `null` rather than crash the coordinator.)
    public static let document: JSONValue =
        (try? JSONDecoder().decode(JSONValue.self, from: Data(OpenRPCDocument.text.utf8))) ?? .null
}

/// `health`: queue counts, agents, database state, version, uptime.
public enum Health: RPCMethod {
    public static let name = "health"
    public static let requiredRole = AccessRole.reader
    public typealias Params = NoParams
    public struct Result: Codable, Sendable, Equatable {
        public var version: String
        public var uptimeSeconds: Int
        /// `up` or `down`.
        public var database: String
        public var leader: Bool
        public var agents: Int
        public var queue: QueueCounts
        /// Jobs completed since midnight in the campaign's timezone.
        public var completedToday: Int
        public init(
            version: String, uptimeSeconds: Int, database: String, leader: Bool, agents: Int, queue: QueueCounts,
            completedToday: Int
        ) {
            self.version = version
            self.uptimeSeconds = uptimeSeconds
            self.database = database
            self.leader = leader
            self.agents = agents
            self.queue = queue
            self.completedToday = completedToday
        }
    }
}

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
        /// The rule that refused the call, when not allowed (the job is then SKIPPED).
        public var rule: String?
        public var status: JobStatus
        /// Set when a provider limit (concurrent calls, calls per second) says "not yet": the job
        /// stays ACTIVE/CLAIMED with its lease; ask again after this many milliseconds.
        public var retryAfterMs: Int?
        public init(allowed: Bool, idempotencyKey: String?, rule: String?, status: JobStatus, retryAfterMs: Int? = nil) {
            self.allowed = allowed
            self.idempotencyKey = idempotencyKey
            self.rule = rule
            self.status = status
            self.retryAfterMs = retryAfterMs
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
        public init(
            jobId: Int64, leaseToken: String, retryable: Bool, error: String, outcome: CallOutcome?,
            call: CallRecord?, outcomeUnknown: Bool? = nil
        ) {
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
            updatedSince: String? = nil, updatedBefore: String? = nil, reason: String? = nil, outcome: CallOutcome? = nil
        ) {
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

/// `jobs.tally`: counts by status and by call outcome of the jobs' last result.
public enum TallyJobs: RPCMethod {
    public static let name = "jobs.tally"
    public static let requiredRole = AccessRole.reader
    public typealias Params = NoParams
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

/// `customers.upsert`: bulk, idempotent on `externalRef`.
public enum UpsertCustomers: RPCMethod {
    public static let name = "customers.upsert"
    public struct Params: Codable, Sendable, Equatable {
        public var customers: [CustomerInput]
        public init(customers: [CustomerInput]) { self.customers = customers }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var inserted: Int
        public var updated: Int
        public var rejected: [ItemError]
        public init(inserted: Int, updated: Int, rejected: [ItemError]) {
            self.inserted = inserted
            self.updated = updated
            self.rejected = rejected
        }
    }
}

/// A customer as the wire shows it.
public struct CustomerView: Codable, Sendable, Equatable {
    public var id: Int64
    public var externalRef: String
    public var name: String
    public var phone: String
    public var timezone: String
    public var status: CustomerStatus
    public var lastCalledAt: String?
    public var attributes: JSONValue?
    public var createdAt: String
    public var updatedAt: String
    public init(
        id: Int64, externalRef: String, name: String, phone: String, timezone: String, status: CustomerStatus,
        lastCalledAt: String?, attributes: JSONValue?, createdAt: String, updatedAt: String
    ) {
        self.id = id
        self.externalRef = externalRef
        self.name = name
        self.phone = phone
        self.timezone = timezone
        self.status = status
        self.lastCalledAt = lastCalledAt
        self.attributes = attributes
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// `customers.get`: one customer by `id` or `externalRef`.
public enum GetCustomer: RPCMethod {
    public static let name = "customers.get"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        public var id: Int64?
        public var externalRef: String?
        public init(id: Int64? = nil, externalRef: String? = nil) {
            self.id = id
            self.externalRef = externalRef
        }
    }
    public typealias Result = CustomerView
}

/// `customers.list`: by id, with keyset paging, optionally one status.
public enum ListCustomers: RPCMethod {
    public static let name = "customers.list"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        public var status: CustomerStatus?
        /// 1…1000, default 100.
        public var limit: Int?
        public var cursor: String?
        public init(status: CustomerStatus? = nil, limit: Int? = nil, cursor: String? = nil) {
            self.status = status
            self.limit = limit
            self.cursor = cursor
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var customers: [CustomerView]
        public var nextCursor: String?
        public init(customers: [CustomerView], nextCursor: String?) {
            self.customers = customers
            self.nextCursor = nextCursor
        }
    }
}

/// `automation.get`: the current settings.
public enum GetAutomation: RPCMethod {
    public static let name = "automation.get"
    public static let requiredRole = AccessRole.reader
    public typealias Params = NoParams
    public typealias Result = AutomationSettings
}

/// `automation.set`: changes some settings (a partial object: `{"dailyCap": 500}`); every field
/// is validated and nothing is half-applied; each change is logged with the caller's uid.
public enum SetAutomation: RPCMethod {
    public static let name = "automation.set"
    public struct Params: Codable, Sendable, Equatable {
        public var values: [String: JSONValue]
        public init(_ values: [String: JSONValue]) { self.values = values }
        public init(from decoder: any Decoder) throws {
            self.values = try decoder.singleValueContainer().decode([String: JSONValue].self)
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(self.values)
        }
    }
    public typealias Result = AutomationSettings
}

/// `automation.run`: enqueue every eligible customer, up to today's cap, in one statement.
/// Idempotent per customer and campaign-local date (`queueJobId` = `<externalRef>:<YYYY-MM-DD>`).
public enum RunAutomation: RPCMethod {
    public static let name = "automation.run"
    public struct Params: Codable, Sendable, Equatable {
        /// Count only; enqueue nothing.
        public var dryRun: Bool?
        public init(dryRun: Bool? = nil) { self.dryRun = dryRun }
    }
    public struct Result: Codable, Sendable, Equatable {
        /// Customers looked at (all of them).
        public var considered: Int
        /// Jobs created (0 on a dry run).
        public var enqueued: Int
        /// Eligible and under the cap: what a real run would enqueue.
        public var eligible: Int
        /// Customers left out, by the first rule they fail (`not_active`, `invalid_phone`,
        /// `outside_working_hours`, `cooldown`, `open_job`, `already_enqueued_today`, `daily_cap`).
        public var leftOut: [String: Int]
        /// The campaign-local date of the run.
        public var date: String
        /// Calls the cap still allowed when the run started.
        public var capRemaining: Int
        public var dryRun: Bool
        public init(
            considered: Int, enqueued: Int, eligible: Int, leftOut: [String: Int], date: String, capRemaining: Int,
            dryRun: Bool
        ) {
            self.considered = considered
            self.enqueued = enqueued
            self.eligible = eligible
            self.leftOut = leftOut
            self.date = date
            self.capRemaining = capRemaining
            self.dryRun = dryRun
        }
    }
}

/// Every method name the coordinator serves.
public enum ProtocolMethods {
    public static let types: [any RPCMethod.Type] = [
        RPCDiscover.self, Health.self, ListAgents.self, AgentHello.self, LeaseJobs.self, DialingJob.self,
        CompleteJob.self, FailJob.self, SkipJob.self, ReportJobs.self, EnqueueJobs.self, ListJobs.self, GetJob.self, TallyJobs.self,
        RetryJobs.self, CancelJobs.self, UpsertCustomers.self, GetCustomer.self, ListCustomers.self,
        GetAutomation.self, SetAutomation.self, RunAutomation.self,
    ]
    public static let all: [String] = types.map { $0.name }
    /// The least role of each method.
    public static let roles: [String: AccessRole] = Dictionary(uniqueKeysWithValues: types.map { ($0.name, $0.requiredRole) })
}

/// `agents.list`: the agents connected to this coordinator (each coordinator knows its own).
public enum ListAgents: RPCMethod {
    public static let name = "agents.list"
    public static let requiredRole = AccessRole.reader
    public typealias Params = NoParams
    public struct Result: Codable, Sendable, Equatable {
        /// The coordinator that answered.
        public var coordinator: String
        public var agents: [AgentView]
        public init(coordinator: String, agents: [AgentView]) {
            self.coordinator = coordinator
            self.agents = agents
        }
    }
}
