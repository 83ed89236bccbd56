import CampaignCore
import Foundation

/// A job as the wire shows it, with the earlier design's camelCase names (DESIGN §3).
///
/// `attemptsMade` counts the execution attempts started, including the running one: it is 1
/// while the first attempt runs. Times are RFC 3339 UTC with milliseconds.
public struct JobView: Codable, Sendable, Equatable {
    public var id: Int64
    public var queueJobId: String
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
        startedAt: String?, completedAt: String?, failedAt: String?, updatedAt: String
    ) {
        self.id = id
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

    public init(
        provider: String, providerCallId: String?, idempotencyKey: String, startedAt: String?,
        endedAt: String?, outcome: CallOutcome, durationMs: Int?, detail: JSONValue?
    ) {
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

    public init(
        id: Int64, jobId: Int64, attempt: Int, agent: String, provider: String, providerCallId: String?,
        idempotencyKey: String, startedAt: String?, endedAt: String?, outcome: CallOutcome, durationMs: Int?,
        detail: JSONValue?
    ) {
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

/// A customer as given to `customers.upsert`.
public struct CustomerInput: Codable, Sendable, Equatable {
    public var externalRef: String
    public var name: String?
    public var phone: String
    public var timezone: String
    public var status: CustomerStatus?
    public var attributes: JSONValue?

    public init(
        externalRef: String, name: String? = nil, phone: String, timezone: String, status: CustomerStatus? = nil,
        attributes: JSONValue? = nil
    ) {
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
        priority: Int? = nil, maxAttempts: Int? = nil, runAt: String? = nil
    ) {
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

/// The automation settings (DESIGN §5), held in `automation_settings` one row per field.
///
/// Every field has a default; `problems()` validates all of them, and nothing is written unless
/// all pass.
public struct AutomationSettings: Codable, Sendable, Equatable {
    /// When on, the maintenance leader runs `automation.run` every `autoRunIntervalSeconds`.
    public var enabled: Bool = false
    /// The campaign's IANA timezone: the daily cap counts calls per day in it, and the
    /// automatic enqueue's idempotency key uses its date.
    public var timezone: String = "UTC"
    /// Local working hours, in each customer's own timezone: `HH:MM`, start inclusive, end
    /// exclusive (`24:00` = end of day).
    public var workingHoursStart: String = "09:00"
    public var workingHoursEnd: String = "18:00"
    /// ISO weekdays on which calls are placed (1 = Monday … 7 = Sunday), in the customer's timezone.
    public var workingDays: [Int] = [1, 2, 3, 4, 5]
    /// Calls placed per day across the campaign, at most.
    public var dailyCap: Int = 1000
    /// Minutes that must pass after a customer's last call before a new job calls them.
    public var cooldownMinutes: Int = 1440
    public var maxAttempts: Int = 3
    public var retryBaseMs: Int = 60_000
    public var retryFactor: Double = 2
    public var retryCapMs: Int = 3_600_000
    public var leaseSeconds: Int = 60
    /// How often the leader runs the automatic enqueue when `enabled`.
    public var autoRunIntervalSeconds: Int = 300
    /// The provider's limit of calls in progress at once, across all agents and coordinators.
    public var maxConcurrentCalls: Int = 20
    /// The provider's limit of call starts per second, across all agents and coordinators.
    public var callsPerSecond: Double = 5

    public init() {}

    public init(
        retryBaseMs: Int = 60_000, retryFactor: Double = 2, retryCapMs: Int = 3_600_000, maxAttempts: Int = 3,
        leaseSeconds: Int = 60
    ) {
        self.retryBaseMs = retryBaseMs
        self.retryFactor = retryFactor
        self.retryCapMs = retryCapMs
        self.maxAttempts = maxAttempts
        self.leaseSeconds = leaseSeconds
    }

    public var retryPolicy: RetryPolicy {
        RetryPolicy(baseMs: self.retryBaseMs, factor: self.retryFactor, capMs: self.retryCapMs)
    }

    /// The working hours as the eligibility policy reads them (nil when the fields are invalid).
    public var workingHours: WorkingHours? {
        guard let start = WorkingHours.parse(self.workingHoursStart), let end = WorkingHours.parse(self.workingHoursEnd)
        else { return nil }
        return WorkingHours(startSecond: start, endSecond: end, isoWeekdays: Set(self.workingDays))
    }

    /// Checks every field; returns one message per problem (empty when valid).
    /// `knownTimezone` says whether a timezone name is known (to Foundation and PostgreSQL).
    public func problems(knownTimezone: (String) -> Bool = { _ in true }) -> [String] {
        var p: [String] = []
        if !knownTimezone(self.timezone) { p.append("timezone must be a known IANA timezone") }
        let start = WorkingHours.parse(self.workingHoursStart)
        let end = WorkingHours.parse(self.workingHoursEnd)
        if start == nil { p.append("workingHoursStart must be HH:MM (00:00…23:59)") }
        if end == nil { p.append("workingHoursEnd must be HH:MM (00:01…24:00)") }
        if let start, let end, start >= end { p.append("workingHoursStart must be before workingHoursEnd") }
        if self.workingDays.isEmpty || !self.workingDays.allSatisfy({ (1...7).contains($0) })
            || Set(self.workingDays).count != self.workingDays.count
        {
            p.append("workingDays must be distinct ISO weekdays 1 (Monday) … 7 (Sunday)")
        }
        if !(0...10_000_000).contains(self.dailyCap) { p.append("dailyCap must be 0…10000000") }
        if !(0...525_600).contains(self.cooldownMinutes) { p.append("cooldownMinutes must be 0…525600") }
        if !(1...86_400_000).contains(self.retryBaseMs) { p.append("retryBaseMs must be 1…86400000") }
        if !(self.retryFactor >= 1 && self.retryFactor <= 10) { p.append("retryFactor must be 1…10") }
        if !(1...604_800_000).contains(self.retryCapMs) { p.append("retryCapMs must be 1…604800000") }
        if self.retryCapMs < self.retryBaseMs { p.append("retryCapMs must be ≥ retryBaseMs") }
        if !(1...100).contains(self.maxAttempts) { p.append("maxAttempts must be 1…100") }
        if !(5...3600).contains(self.leaseSeconds) { p.append("leaseSeconds must be 5…3600") }
        if !(10...86_400).contains(self.autoRunIntervalSeconds) { p.append("autoRunIntervalSeconds must be 10…86400") }
        if !(1...100_000).contains(self.maxConcurrentCalls) { p.append("maxConcurrentCalls must be 1…100000") }
        if !(self.callsPerSecond >= 0.01 && self.callsPerSecond <= 10_000) { p.append("callsPerSecond must be 0.01…10000") }
        return p
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case enabled, timezone, workingHoursStart, workingHoursEnd, workingDays, dailyCap, cooldownMinutes
        case maxAttempts, retryBaseMs, retryFactor, retryCapMs, leaseSeconds, autoRunIntervalSeconds
        case maxConcurrentCalls, callsPerSecond
    }

    /// The names of every setting.
    public static let keys: [String] = CodingKeys.allCases.map(\.rawValue)

    /// Missing fields take their defaults (settings stored before a field existed keep working).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = AutomationSettings()
        func v<T: Decodable>(_ k: CodingKeys, _ fallback: T) throws -> T { try c.decodeIfPresent(T.self, forKey: k) ?? fallback }
        self.enabled = try v(.enabled, d.enabled)
        self.timezone = try v(.timezone, d.timezone)
        self.workingHoursStart = try v(.workingHoursStart, d.workingHoursStart)
        self.workingHoursEnd = try v(.workingHoursEnd, d.workingHoursEnd)
        self.workingDays = try v(.workingDays, d.workingDays)
        self.dailyCap = try v(.dailyCap, d.dailyCap)
        self.cooldownMinutes = try v(.cooldownMinutes, d.cooldownMinutes)
        self.maxAttempts = try v(.maxAttempts, d.maxAttempts)
        self.retryBaseMs = try v(.retryBaseMs, d.retryBaseMs)
        self.retryFactor = try v(.retryFactor, d.retryFactor)
        self.retryCapMs = try v(.retryCapMs, d.retryCapMs)
        self.leaseSeconds = try v(.leaseSeconds, d.leaseSeconds)
        self.autoRunIntervalSeconds = try v(.autoRunIntervalSeconds, d.autoRunIntervalSeconds)
        self.maxConcurrentCalls = try v(.maxConcurrentCalls, d.maxConcurrentCalls)
        self.callsPerSecond = try v(.callsPerSecond, d.callsPerSecond)
    }
}

extension AutomationSettings {
    /// The settings as a JSON object, one member per setting.
    public func asObject() -> [String: JSONValue] {
        // Encoding plain numbers, strings and arrays cannot fail.
        let data = (try? JSONEncoder().encode(self)) ?? Data("{}".utf8)
        if case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: data) { return o }
        return [:]
    }

    /// These settings with `patch` applied. Unknown keys and wrong types are refused, with the
    /// key named.
    public func applying(_ patch: [String: JSONValue]) throws -> AutomationSettings {
        if let unknown = patch.keys.sorted().first(where: { !Self.keys.contains($0) }) {
            throw SettingsError(message: "unknown setting \(unknown)")
        }
        var object = self.asObject()
        for (k, v) in patch { object[k] = v }
        return try Self.from(object: object)
    }

    /// Settings from a JSON object; missing members take their defaults.
    public static func from(object: [String: JSONValue]) throws -> AutomationSettings {
        do {
            let data = try JSONEncoder().encode(JSONValue.object(object))
            return try JSONDecoder().decode(AutomationSettings.self, from: data)
        } catch let e as DecodingError {
            let key: String
            switch e {
            case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
                key = c.codingPath.first?.stringValue ?? "settings"
            case .keyNotFound(let k, _): key = k.stringValue
            @unknown default: key = "settings"
            }
            throw SettingsError(message: "\(key) has the wrong type")
        }
    }
}

/// A settings patch that cannot be applied.
public struct SettingsError: Error, Sendable, Equatable {
    public var message: String
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
