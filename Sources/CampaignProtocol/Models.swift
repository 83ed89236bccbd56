import CampaignCore
import Foundation

/// A job as the wire shows it, with the earlier design's camelCase names (DESIGN §3).
///
/// `attemptsMade` counts the execution attempts started, including the running one: it is 1
/// while the first attempt runs. Times are RFC 3339 UTC with milliseconds.
public struct JobView: Codable, Sendable, Equatable {
    public var id: Int64
    public var queueJobId: String
    /// The campaign's name.
    public var campaign: String
    public var customerId: Int64
    public var customerRef: String?
    public var status: JobStatus
    public var phase: JobPhase?
    public var attemptsMade: Int
    public var maxAttempts: Int
    public var priority: Int
    public var runAt: String
    public var reason: String?
    public var result: JSONValue?
    public var leaseOwner: String?
    public var leaseExpiresAt: String?
    public var enqueuedAt: String
    public var startedAt: String?
    public var completedAt: String?
    public var failedAt: String?
    public var updatedAt: String

    public init(
        id: Int64, queueJobId: String, customerId: Int64, customerRef: String?, status: JobStatus,
        phase: JobPhase?, attemptsMade: Int, maxAttempts: Int, priority: Int, runAt: String, reason: String?,
        result: JSONValue?, leaseOwner: String?, leaseExpiresAt: String?, enqueuedAt: String,
        startedAt: String?, completedAt: String?, failedAt: String?, updatedAt: String,
        campaign: String = CampaignName.default
    ) {
        self.id = id
        self.campaign = campaign
        self.queueJobId = queueJobId
        self.customerId = customerId
        self.customerRef = customerRef
        self.status = status
        self.phase = phase
        self.attemptsMade = attemptsMade
        self.maxAttempts = maxAttempts
        self.priority = priority
        self.runAt = runAt
        self.reason = reason
        self.result = result
        self.leaseOwner = leaseOwner
        self.leaseExpiresAt = leaseExpiresAt
        self.enqueuedAt = enqueuedAt
        self.startedAt = startedAt
        self.completedAt = completedAt
        self.failedAt = failedAt
        self.updatedAt = updatedAt
    }
}

/// The customer data an agent needs to place a call.
public struct CallTarget: Codable, Sendable, Equatable {
    public var customerId: Int64
    public var externalRef: String
    public var name: String
    public var phone: String
    public var timezone: String
    public var attributes: JSONValue?

    public init(
        customerId: Int64, externalRef: String, name: String, phone: String, timezone: String,
        attributes: JSONValue?
    ) {
        self.customerId = customerId
        self.externalRef = externalRef
        self.name = name
        self.phone = phone
        self.timezone = timezone
        self.attributes = attributes
    }
}

/// A job handed to an agent by `jobs.lease`.
public struct LeasedJob: Codable, Sendable, Equatable {
    public var jobId: Int64
    public var queueJobId: String
    /// Fencing token of this lease: every report about the job must carry it.
    public var leaseToken: String
    /// The attempt number this lease runs (equals the job's `attemptsMade`).
    public var attempt: Int
    public var maxAttempts: Int
    public var leaseExpiresAt: String
    public var reason: String?
    public var customer: CallTarget
    /// Present when leased with `dial: true`: the job is ACTIVE/DIALING; pass this key to the provider.
    public var idempotencyKey: String?

    public init(
        jobId: Int64, queueJobId: String, leaseToken: String, attempt: Int, maxAttempts: Int,
        leaseExpiresAt: String, reason: String?, customer: CallTarget, idempotencyKey: String? = nil
    ) {
        self.idempotencyKey = idempotencyKey
        self.jobId = jobId
        self.queueJobId = queueJobId
        self.leaseToken = leaseToken
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.leaseExpiresAt = leaseExpiresAt
        self.reason = reason
        self.customer = customer
    }
}

/// What the agent knows of one placed call; stored as a `call_logs` row.
public struct CallRecord: Codable, Sendable, Equatable {
    public var provider: String
    public var providerCallId: String?
    /// `<queueJobId>#<attempt>`, as returned by `jobs.dialing`.
    public var idempotencyKey: String
    public var startedAt: String?
    public var endedAt: String?
    public var outcome: CallOutcome
    public var durationMs: Int?
    public var detail: JSONValue?
    /// The person asked not to be called again (issue 15): with the report, the number is
    /// suppressed, every other open job for it SKIPPED (`opted_out`) and its customers OPTED_OUT.
    public var optOut: Bool?

    public init(
        provider: String, providerCallId: String?, idempotencyKey: String, startedAt: String?,
        endedAt: String?, outcome: CallOutcome, durationMs: Int?, detail: JSONValue?, optOut: Bool? = nil
    ) {
        self.optOut = optOut
        self.provider = provider
        self.providerCallId = providerCallId
        self.idempotencyKey = idempotencyKey
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.durationMs = durationMs
        self.detail = detail
    }
}

/// A `call_logs` row as the wire shows it.
public struct CallLogView: Codable, Sendable, Equatable {
    public var id: Int64
    public var jobId: Int64
    public var attempt: Int
    public var agent: String
    public var provider: String
    public var providerCallId: String?
    public var idempotencyKey: String
    public var startedAt: String?
    public var endedAt: String?
    public var outcome: CallOutcome
    public var durationMs: Int?
    public var detail: JSONValue?
    /// When the coordinator logged the call (the database's clock).
    public var createdAt: String?
    /// The campaign of the call's job, and its customer's `externalRef`.
    public var campaign: String?
    public var customerRef: String?

    public init(
        id: Int64, jobId: Int64, attempt: Int, agent: String, provider: String, providerCallId: String?,
        idempotencyKey: String, startedAt: String?, endedAt: String?, outcome: CallOutcome, durationMs: Int?,
        detail: JSONValue?, createdAt: String? = nil, campaign: String? = nil, customerRef: String? = nil
    ) {
        self.createdAt = createdAt
        self.campaign = campaign
        self.customerRef = customerRef
        self.id = id
        self.jobId = jobId
        self.attempt = attempt
        self.agent = agent
        self.provider = provider
        self.providerCallId = providerCallId
        self.idempotencyKey = idempotencyKey
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.durationMs = durationMs
        self.detail = detail
    }
}

/// A customer's consent to be called, as on record: the legal basis, when and where it was
/// obtained, and free-text proof (a form's id, a recording's reference).
public struct Consent: Codable, Sendable, Equatable {
    /// The basis, e.g. `prior_express_written`, `prior_express`, `existing_business_relationship`.
    public var basis: String
    /// RFC 3339.
    public var obtainedAt: String
    public var source: String?
    public var proof: String?

    public init(basis: String, obtainedAt: String, source: String? = nil, proof: String? = nil) {
        self.basis = basis
        self.obtainedAt = obtainedAt
        self.source = source
        self.proof = proof
    }
}

/// A customer as given to `customers.upsert`.
public struct CustomerInput: Codable, Sendable, Equatable {
    public var externalRef: String
    public var name: String?
    public var phone: String
    public var timezone: String
    public var status: CustomerStatus?
    public var attributes: JSONValue?
    /// Where the customer lives, as ISO 3166-2 (`US-FL`) or ISO 3166 (`CA`): with what the
    /// phone number implies, which of the law's rules apply (the stricter of both).
    public var region: String?
    /// The consent on record (absent: what is stored is kept).
    public var consent: Consent?

    public init(
        externalRef: String, name: String? = nil, phone: String, timezone: String, status: CustomerStatus? = nil,
        attributes: JSONValue? = nil, region: String? = nil, consent: Consent? = nil
    ) {
        self.region = region
        self.consent = consent
        self.externalRef = externalRef
        self.name = name
        self.phone = phone
        self.timezone = timezone
        self.status = status
        self.attributes = attributes
    }
}

/// One rejected item of a bulk request, by its index in the request.
public struct ItemError: Codable, Sendable, Equatable {
    public var index: Int
    public var ref: String?
    public var reason: String

    public init(index: Int, ref: String?, reason: String) {
        self.index = index
        self.ref = ref
        self.reason = reason
    }
}

/// One job to enqueue: names its customer by `customerId` or `customerRef`.
public struct EnqueueItem: Codable, Sendable, Equatable {
    public var customerId: Int64?
    public var customerRef: String?
    /// The campaign of the job (nil: the default one).
    public var campaign: String?
    /// Idempotency key of the enqueue: a second enqueue with the same key creates nothing.
    /// Generated when absent.
    public var queueJobId: String?
    public var reason: String?
    public var priority: Int?
    public var maxAttempts: Int?
    /// RFC 3339; now when absent.
    public var runAt: String?

    public init(
        customerId: Int64? = nil, customerRef: String? = nil, queueJobId: String? = nil, reason: String? = nil,
        priority: Int? = nil, maxAttempts: Int? = nil, runAt: String? = nil, campaign: String? = nil
    ) {
        self.campaign = campaign
        self.customerId = customerId
        self.customerRef = customerRef
        self.queueJobId = queueJobId
        self.reason = reason
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.runAt = runAt
    }
}

/// The answer to one report (`jobs.complete`, `jobs.fail`, `jobs.skip`): the job after it.
public struct ReportResult: Codable, Sendable, Equatable {
    public var jobId: Int64
    public var status: JobStatus
    public var attemptsMade: Int
    /// When the job runs again, for a retryable failure re-queued with backoff.
    public var runAt: String?
    /// True when this exact report had already been applied (a resend): nothing changed.
    public var replayed: Bool
    public var result: JSONValue?

    public init(
        jobId: Int64, status: JobStatus, attemptsMade: Int, runAt: String?, replayed: Bool, result: JSONValue?
    ) {
        self.jobId = jobId
        self.status = status
        self.attemptsMade = attemptsMade
        self.runAt = runAt
        self.replayed = replayed
        self.result = result
    }
}

/// Counts of jobs by status; every status is present.
public struct QueueCounts: Codable, Sendable, Equatable {
    public var QUEUED: Int
    public var ACTIVE: Int
    public var COMPLETED: Int
    public var FAILED: Int
    public var SKIPPED: Int

    public init(QUEUED: Int = 0, ACTIVE: Int = 0, COMPLETED: Int = 0, FAILED: Int = 0, SKIPPED: Int = 0) {
        self.QUEUED = QUEUED
        self.ACTIVE = ACTIVE
        self.COMPLETED = COMPLETED
        self.FAILED = FAILED
        self.SKIPPED = SKIPPED
    }

    public subscript(status: JobStatus) -> Int {
        get {
            switch status {
            case .queued: return self.QUEUED
            case .active: return self.ACTIVE
            case .completed: return self.COMPLETED
            case .failed: return self.FAILED
            case .skipped: return self.SKIPPED
            }
        }
        set {
            switch status {
            case .queued: self.QUEUED = newValue
            case .active: self.ACTIVE = newValue
            case .completed: self.COMPLETED = newValue
            case .failed: self.FAILED = newValue
            case .skipped: self.SKIPPED = newValue
            }
        }
    }

    public var open: Int { self.QUEUED + self.ACTIVE }
    public var total: Int { self.QUEUED + self.ACTIVE + self.COMPLETED + self.FAILED + self.SKIPPED }
}

/// One connected agent, as `agents.list` shows it.
public struct AgentView: Codable, Sendable, Equatable {
    public var agentId: String
    public var version: String
    public var capacity: Int
    public var connectionId: Int64
    public var connectedAt: String
    /// From the connection's SO_PEERCRED (absent when the socket could not tell).
    public var pid: Int32?
    public var uid: UInt32?
    public var gid: UInt32?
    /// The systemd unit the agent's process runs in (from its cgroup), when it can be read.
    public var unit: String?
    /// The role its peer credentials map to.
    public var role: AccessRole
    /// Jobs ACTIVE under this connection's leases right now.
    public var leasesHeld: Int
    /// Reports (`jobs.complete`, `jobs.fail`, `jobs.skip`) accepted on this connection.
    public var reports: Int

    public init(
        agentId: String, version: String, capacity: Int, connectionId: Int64, connectedAt: String, pid: Int32?,
        uid: UInt32?, gid: UInt32?, unit: String?, role: AccessRole, leasesHeld: Int, reports: Int
    ) {
        self.agentId = agentId
        self.version = version
        self.capacity = capacity
        self.connectionId = connectionId
        self.connectedAt = connectedAt
        self.pid = pid
        self.uid = uid
        self.gid = gid
        self.unit = unit
        self.role = role
        self.leasesHeld = leasesHeld
        self.reports = reports
    }
}
