import CampaignCore
import CampaignProtocol
import Foundation

/// A job row locked for a batch, with its state machine.
struct LockedJob {
    var id: Int64
    var queueJobId: String
    var customerId: Int64
    var customerStatus: CustomerStatus
    var phone: String
    var timezone: String
    /// The customer's stated region (ISO 3166-2), one half of its jurisdiction.
    var region: String?
    /// The starts of the calls to the customer's number in the last three days (seconds since
    /// 1970, oldest first), when the statement read them (a pre-dial check).
    var numberCalls: [Double] = []
    /// Whether the number is on the suppression list now (read with the row, for a pre-dial check).
    var suppressed = false
    /// Whether a consent is on record for the customer.
    var hasConsent = false
    var lastCalledEpoch: Double?
    var machine: JobStateMachine
    var reason: String?
    var externalRef: String
    var name: String
    var attributes: String?
    var campaignId: Int64 = CampaignRecord.defaultID
    /// Whether the job's campaign lets it be called now (read with the row, exact).
    var campaignGate: CampaignGate = .open
    /// Seconds since the job was due (`run_at`), when the statement that locked it says (the due lock).
    var dueForSeconds: Double?

    /// A campaign's state as the pre-dial check reads it.
    enum CampaignGate: Equatable {
        case open
        case paused
        /// Its `startsAt` is still ahead.
        case notStarted(Date)
        /// ENDED, or its `endsAt` has passed.
        case ended
    }

    var idempotencyKey: String {
        IdempotencyKey(queueJobId: self.queueJobId, attempt: self.machine.snapshot.attemptsMade).description
    }

    /// The wire form of this job just leased with `token` (its expiry is filled in once written).
    func leased(token: String, idempotencyKey: String?) -> LeasedJob {
        LeasedJob(
            jobId: self.id, queueJobId: self.queueJobId, leaseToken: token, attempt: self.machine.snapshot.attemptsMade,
            maxAttempts: self.machine.snapshot.maxAttempts, leaseExpiresAt: "", reason: self.reason,
            customer: CallTarget(
                customerId: self.customerId, externalRef: self.externalRef, name: self.name, phone: self.phone,
                timezone: self.timezone, attributes: JSONText.decode(self.attributes)),
            idempotencyKey: idempotencyKey)
    }

    /// Locks the jobs of a batch of agent requests; `withCustomers` when a pre-dial check needs
    /// the customer's state (without it the customer reads as a number that may not be called).
    static func lock(_ conn: PQConnection, ids: [Int64], withCustomers: Bool) throws -> [Int64: LockedJob] {
        byId(withCustomers ? try conn.rows(SQL.JobsLockForReport(ids: ids)) : try conn.rows(SQL.JobsLockForReportOnly(ids: ids)))
    }

    /// ``lock(_:ids:withCustomers:)`` as a step of a pipeline.
    static func lock(in pipeline: inout Pipeline, ids: [Int64], withCustomers: Bool) throws -> LockSlot {
        withCustomers
            ? .withCustomers(try pipeline.add(SQL.JobsLockForReport(ids: ids)))
            : .jobsOnly(try pipeline.add(SQL.JobsLockForReportOnly(ids: ids)))
    }

    /// Where a pipeline's locked rows are, whichever statement locked them.
    enum LockSlot {
        case withCustomers(Pipeline.Slot<SQL.JobsLockForReport>)
        case jobsOnly(Pipeline.Slot<SQL.JobsLockForReportOnly>)

        func jobs(_ results: Pipeline.Results) throws -> [Int64: LockedJob] {
            switch self {
            case .withCustomers(let slot): byId(try results.rows(slot))
            case .jobsOnly(let slot): byId(try results.rows(slot))
            }
        }
    }

    static func byId(_ jobs: [LockedJob]) -> [Int64: LockedJob] {
        Dictionary(jobs.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }
}

extension LockedJob {
    /// A row of `SQL.lockedJobColumns` (the customer's columns may be NULL: see `JobsLockForReportOnly`).
    init(row r: PQRow) throws {
        let snapshot = JobStateMachine.Snapshot(
            status: JobStatus(rawValue: try r.string("status")) ?? .failed,
            phase: r["phase"].flatMap(JobPhase.init(rawValue:)), leaseToken: r["lease_token"],
            attemptsMade: try r.int("attempts_made"), maxAttempts: try r.int("max_attempts"),
            outcomeUnknown: r.bool("outcome_unknown"),
            lastReport: r["last_report"].flatMap(JobStateMachine.ReportKind.init(rawValue:)))
        self.init(
            id: try r.int64("id"), queueJobId: try r.string("queue_job_id"), customerId: try r.int64("customer_id"),
            customerStatus: r["customer_status"].flatMap(CustomerStatus.init(rawValue:)) ?? .invalidNumber,
            phone: r["phone"] ?? "", timezone: r["timezone"] ?? "UTC",
            lastCalledEpoch: r["last_called_epoch"].flatMap(Double.init), machine: JobStateMachine(snapshot),
            reason: r["reason"], externalRef: r["external_ref"] ?? "", name: r["name"] ?? "",
            attributes: r["attributes"])
        self.region = r["region"]
        self.suppressed = r.bool("suppressed")
        self.hasConsent = r.bool("has_consent")
        if let calls = r["number_calls"] { self.numberCalls = calls.split(separator: ",").compactMap { Double($0) } }
        if let campaign = r.optionalInt("campaign_id") { self.campaignId = Int64(campaign) }
        self.dueForSeconds = r["due_for_s"].flatMap(Double.init)
        switch r["campaign_gate"] {
        case "ENDED": self.campaignGate = .ended
        case "PAUSED": self.campaignGate = .paused
        case "NOT_STARTED":
            self.campaignGate = .notStarted(Date(timeIntervalSince1970: r["campaign_starts_epoch"].flatMap(Double.init) ?? 0))
        default: self.campaignGate = .open
        }
    }
}
