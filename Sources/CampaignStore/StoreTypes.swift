import CampaignCore
import CampaignProtocol

/// One agent-side request about a leased job, as the store applies it in a batch.
public struct JobRequest: Sendable {
    public enum Kind: Sendable, Equatable {
        /// `jobs.dialing`: the pre-dial check.
        case dialing
        case complete(outcome: CallOutcome)
        /// `outcomeUnknown`: the call may have happened, its end is unknown (never redialed).
        case fail(retryable: Bool, error: String, outcome: CallOutcome?, outcomeUnknown: Bool = false)
        case skip(reason: String)
        /// `jobs.fail` with `notPlaced`: the provider has no call under the key (issue 16).
        case notPlaced(error: String)
    }

    public var jobId: Int64
    public var leaseToken: String
    public var kind: Kind
    /// The placed call, if there was one: always logged, whatever became of the job.
    public var call: CallRecord?
    /// The agent's id, for the call log.
    public var agent: String

    public init(jobId: Int64, leaseToken: String, kind: Kind, call: CallRecord? = nil, agent: String) {
        self.jobId = jobId
        self.leaseToken = leaseToken
        self.kind = kind
        self.call = call
        self.agent = agent
    }
}

/// The store's answer to one ``JobRequest``.
public enum JobRequestOutcome: Sendable, Equatable {
    /// Applied (or replayed): the job as it is now.
    case report(ReportResult)
    /// The dialing check's answer.
    case dialing(DialingJob.Result)
    case rejected(JobStateMachine.Rejection, status: JobStatus)
    case notFound
}

/// The store's answer to one enqueue item.
public struct EnqueueRow: Sendable, Equatable {
    public var index: Int
    public var customerFound: Bool
    public var jobId: Int64?
    public var created: Bool
    /// The item's campaign has ended: nothing was created (an existing job's id is still answered).
    public var campaignEnded: Bool = false
}

/// A customer that passed validation, ready to be written.
public struct ValidCustomer: Sendable, Equatable {
    public var externalRef: String
    public var name: String
    public var phone: String
    public var timezone: String
    public var status: CustomerStatus?
    /// JSON text of the attributes object.
    public var attributesJSON: String?
    /// The stated region (ISO 3166-2), validated.
    public var region: String?
    /// JSON text of the consent (nil: keep what is stored).
    public var consentJSON: String?

    public init(
        externalRef: String, name: String, phone: String, timezone: String, status: CustomerStatus?,
        attributesJSON: String?, region: String? = nil, consentJSON: String? = nil
    ) {
        self.consentJSON = consentJSON
        self.region = region
        self.externalRef = externalRef
        self.name = name
        self.phone = phone
        self.timezone = timezone
        self.status = status
        self.attributesJSON = attributesJSON
    }
}

/// One campaign's rules of the pre-dial check and limits, from its settings.
public struct CampaignRules: Sendable, Equatable {
    public var policy: EligibilityPolicy
    public var dailyCap: Int
    /// The campaign's timezone (its daily cap's day).
    public var timezone: String
    /// Its own limit of calls in progress (the provider's applies to all campaigns together).
    public var maxConcurrentCalls: Int
    /// Its weight in the share of leases among campaigns with jobs due (its priority).
    public var weight: Int
    /// The backoff of its retryable failures (nil: the one the store is given with the batch).
    public var retry: RetryPolicy?
    /// Its retries by call outcome (outcomes not named back off by `retry`).
    public var schedule: RetrySchedule
    /// Its own caps of calls per number (the law's is added per customer).
    public var numberCap: NumberFrequencyCap

    public init(
        policy: EligibilityPolicy, dailyCap: Int, timezone: String, maxConcurrentCalls: Int, weight: Int = 10,
        retry: RetryPolicy? = nil, schedule: RetrySchedule = RetrySchedule(), numberCap: NumberFrequencyCap = .none
    ) {
        self.numberCap = numberCap
        self.schedule = schedule
        self.policy = policy
        self.dailyCap = dailyCap
        self.timezone = timezone
        self.maxConcurrentCalls = maxConcurrentCalls
        self.weight = weight
        self.retry = retry
    }
}

/// The rules of the pre-dial check and the limits: the provider's, across all campaigns, and
/// each leasable campaign's (by id). Jobs of a campaign not named here are not leased.
public struct DialRules: Sendable, Equatable {
    /// The provider's limit of calls in progress, all campaigns together.
    public var maxConcurrentCalls: Int
    public var callsPerSecond: Double
    public var campaigns: [Int64: CampaignRules]

    public init(maxConcurrentCalls: Int, callsPerSecond: Double, campaigns: [Int64: CampaignRules]) {
        self.maxConcurrentCalls = maxConcurrentCalls
        self.callsPerSecond = callsPerSecond
        self.campaigns = campaigns
    }

    /// The rules of a deployment with the default campaign only.
    public init(policy: EligibilityPolicy, dailyCap: Int, timezone: String, maxConcurrentCalls: Int, callsPerSecond: Double) {
        self.init(
            maxConcurrentCalls: maxConcurrentCalls, callsPerSecond: callsPerSecond,
            campaigns: [
                CampaignRecord.defaultID: CampaignRules(
                    policy: policy, dailyCap: dailyCap, timezone: timezone, maxConcurrentCalls: maxConcurrentCalls)
            ])
    }

    /// Rules that allow every call (for tests of other things).
    public static let unrestricted = DialRules(
        policy: EligibilityPolicy(
            workingHours: WorkingHours(startSecond: 0, endSecond: 86_400, isoWeekdays: Set(1...7)), cooldownSeconds: 0),
        dailyCap: 10_000_000, timezone: "UTC", maxConcurrentCalls: 100_000, callsPerSecond: 10_000)

    /// The rate window: `callsPerSecond` below 1 means one call per `1/callsPerSecond` seconds.
    public var rateWindow: DialAdmission.RateWindow {
        DialAdmission.rateWindow(callsPerSecond: self.callsPerSecond)
    }

    /// The default campaign's rules (tests change them in place).
    public var defaultCampaign: CampaignRules {
        get { self.campaigns[CampaignRecord.defaultID]! }
        set { self.campaigns[CampaignRecord.defaultID] = newValue }
    }

    /// The leasable campaigns' ids, in order.
    var campaignIds: [Int64] { self.campaigns.keys.sorted() }
}

/// A campaign as stored: its row and its settings.
public struct CampaignRecord: Sendable, Equatable {
    /// The id of the campaign `default`, made by the migration that brought campaigns.
    public static let defaultID: Int64 = 1

    public var id: Int64
    public var name: String
    public var title: String
    public var status: CampaignStatus
    public var startsAt: String?
    public var endsAt: String?
    public var priority: Int
    public var audience: CampaignAudience
    public var createdAt: String
    public var updatedAt: String
    public var updatedBy: String
    public var endedAt: String?
    public var endedReason: String?
    /// Its settings, the deployment's own (``AutomationSettings/deploymentKeys``) from the default campaign.
    public var settings: AutomationSettings

    public var isDefault: Bool { self.id == Self.defaultID }

    public init(
        id: Int64, name: String, title: String, status: CampaignStatus, startsAt: String?, endsAt: String?,
        priority: Int, audience: CampaignAudience, createdAt: String, updatedAt: String, updatedBy: String,
        endedAt: String?, endedReason: String?, settings: AutomationSettings
    ) {
        self.id = id
        self.name = name
        self.title = title
        self.status = status
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.priority = priority
        self.audience = audience
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.updatedBy = updatedBy
        self.endedAt = endedAt
        self.endedReason = endedReason
        self.settings = settings
    }

    /// A campaign to create (``PostgresJobStore/createCampaign(_:by:)``): its id and times are the database's to give.
    public static func draft(
        name: String, title: String, status: CampaignStatus, startsAt: String?, endsAt: String?, priority: Int,
        audience: CampaignAudience, settings: AutomationSettings
    ) -> CampaignRecord {
        CampaignRecord(
            id: 0, name: name, title: title, status: status, startsAt: startsAt, endsAt: endsAt, priority: priority,
            audience: audience, createdAt: "", updatedAt: "", updatedBy: "", endedAt: nil, endedReason: nil,
            settings: settings)
    }

    /// This campaign with `settings`.
    func with(settings: AutomationSettings) -> CampaignRecord {
        var c = self
        c.settings = settings
        return c
    }

    /// The wire form, with its count of members.
    public func view(members: Int) -> CampaignView {
        CampaignView(
            name: self.name, title: self.title, status: self.status, startsAt: self.startsAt, endsAt: self.endsAt,
            priority: self.priority, audience: self.audience, members: members, createdAt: self.createdAt,
            updatedAt: self.updatedAt, updatedBy: self.updatedBy, endedAt: self.endedAt, endedReason: self.endedReason,
            settings: self.settings)
    }
}

/// One agent's `jobs.lease` in a group commit of leases.
public struct LeaseRequest: Sendable, Equatable {
    /// The `lease_owner` of the agent's connection.
    public var owner: String
    public var max: Int
    /// Lease and pass the pre-dial check in the same transaction (`jobs.lease` `dial: true`).
    public var dial: Bool
    public init(owner: String, max: Int, dial: Bool = false) {
        self.owner = owner
        self.max = max
        self.dial = dial
    }
}

/// The store's answer to one ``LeaseRequest``.
public struct LeaseAnswer: Sendable, Equatable {
    /// Leased (CLAIMED, or DIALING with their idempotency keys when `dial`), in lease order.
    public var jobs: [LeasedJob] = []
    /// With `dial`: jobs leased and refused by a business rule (now SKIPPED with it).
    public var refused: [DialRefusal] = []
    /// With `dial`: a provider limit held jobs back; ask again after this many milliseconds
    /// (nil: not limited).
    public var retryAfterMs: Int?
    public init(jobs: [LeasedJob] = [], refused: [DialRefusal] = [], retryAfterMs: Int? = nil) {
        self.jobs = jobs
        self.refused = refused
        self.retryAfterMs = retryAfterMs
    }
}
