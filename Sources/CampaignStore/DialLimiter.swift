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

    /// The dial-limits lock and the counters under it (read with ``init(_:rules:)`` from the second).
    static func lockSteps(_ rules: DialRules) -> [PQConnection.PipelineStep] {
        [.statement(SQL.dialLimitsLock, []), .statement(SQL.dialCounters, [rules.timezone, String(rules.rateWindow.seconds)])]
    }

    init(_ counters: PQRows, rules: DialRules) throws {
        guard counters.count == 1 else { throw StoreError(.unexpectedResult, "dial counters: \(counters.count) rows") }
        let r = counters.row(0)
        self.admission = DialAdmission(
            dialing: try r.int("dialing"), inWindow: try r.int("window"), callsToday: try r.int("today"),
            maxConcurrentCalls: rules.maxConcurrentCalls, callsPerSecond: rules.callsPerSecond)
        self.nowEpoch = try r.string("now_epoch")
        self.now = Date(timeIntervalSince1970: Double(self.nowEpoch) ?? Date().timeIntervalSince1970)
        self.rules = rules
    }

    /// Records the batch's call starts, the one home of "a call started" (besides the jobs'
    /// own DIALING rows): the customers are marked called (their cooldown counts from now) and
    /// the starts counted at the batch's instant.
    func recordSteps(customers: [Int64]) -> [PQConnection.PipelineStep] {
        guard !customers.isEmpty else { return [] }
        return [
            .statement(SQL.customersMarkCalled, [PGArray.encode(customers)]),
            .statement(SQL.dialCountersAdd, [self.nowEpoch, String(customers.count)]),
        ]
    }

    /// The business rules for this job's customer, now (the cap included).
    func verdict(for job: LockedJob) -> JobStateMachine.DialVerdict {
        guard let tz = TimeZone(identifier: job.timezone) else { return .refused(rule: "unknown_timezone") }
        let customer = EligibilityPolicy.Customer(
            status: job.customerStatus, phone: job.phone, timeZone: tz,
            lastCalledAt: job.lastCalledEpoch.map { Date(timeIntervalSince1970: $0) })
        return self.rules.policy.dialVerdict(
            customer, attempt: job.machine.snapshot.attemptsMade, callsToday: self.admission.callsToday,
            dailyCap: self.rules.dailyCap, now: self.now)
    }

    /// Takes one call slot under the provider limits; nil when admitted, else how long to wait (ms).
    mutating func admit() -> Int? {
        self.admission.admit()
    }
}
