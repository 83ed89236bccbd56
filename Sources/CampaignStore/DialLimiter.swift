import CampaignCore
import CampaignProtocol
import Foundation

/// The counters of one batch's dialing checks, taken under the limits lock and kept up to date
/// as the batch admits calls; the admission itself is ``DialAdmission``'s to decide.
struct DialLimiter {
    var admission: DialAdmission
    let now: Date
    /// The database's clock of this batch as it gave it: the instant the starts are recorded at.
    let nowEpoch: String
    let rules: DialRules
    /// The zone of the campaign's day (the daily cap's), read once per batch.
    let campaignTimeZone: TimeZone

    /// Adds the dial-limits lock and the counters under it to a pipeline; ``init(_:rules:)``
    /// reads the counters' row from the slot answered.
    static func lock(in pipeline: inout Pipeline, _ rules: DialRules) throws -> Pipeline.Slot<SQL.DialCounters> {
        try pipeline.add(SQL.DialLimitsLock())
        return try pipeline.add(SQL.DialCounters(timezone: rules.timezone, windowSeconds: rules.rateWindow.seconds))
    }

    init(_ counters: SQL.DialCounters.Row, rules: DialRules) {
        self.admission = DialAdmission(
            dialing: counters.dialing, inWindow: counters.window, callsToday: counters.today,
            maxConcurrentCalls: rules.maxConcurrentCalls, callsPerSecond: rules.callsPerSecond)
        self.nowEpoch = counters.nowEpoch
        self.now = Date(timeIntervalSince1970: Double(self.nowEpoch) ?? Date().timeIntervalSince1970)
        self.rules = rules
        self.campaignTimeZone = TimeZone(identifier: rules.timezone) ?? TimeZone(identifier: "UTC")!
    }

    /// Records the batch's call starts, the one home of "a call started" (besides the jobs'
    /// own DIALING rows): the customers are marked called (their cooldown counts from now) and
    /// the starts counted at the batch's instant.
    func record(customers: [Int64], in pipeline: inout Pipeline) throws {
        guard !customers.isEmpty else { return }
        try pipeline.add(SQL.CustomersMarkCalled(customerIds: customers))
        try pipeline.add(SQL.DialCountersAdd(atEpoch: self.nowEpoch, count: customers.count))
    }

    /// The business rules for this job's customer, now (the cap included).
    func verdict(for job: LockedJob) -> JobStateMachine.DialVerdict {
        guard let tz = TimeZone(identifier: job.timezone) else { return .refused(rule: "unknown_timezone") }
        let customer = EligibilityPolicy.Customer(
            status: job.customerStatus, phone: job.phone, timeZone: tz,
            lastCalledAt: job.lastCalledEpoch.map { Date(timeIntervalSince1970: $0) })
        return self.rules.policy.dialVerdict(
            customer, attempt: job.machine.snapshot.attemptsMade, callsToday: self.admission.callsToday,
            dailyCap: self.rules.dailyCap, campaignTimeZone: self.campaignTimeZone, now: self.now)
    }

    /// Takes one call slot under the provider limits; nil when admitted, else how long to wait (ms).
    mutating func admit() -> Int? {
        self.admission.admit()
    }
}
