import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Automation

extension PostgresJobStore {
    /// The counts of one `automation.run`.
    public struct AutomationRunCounts: Sendable, Equatable {
        public var byReason: [String: Int]
        public var eligible: Int
        public var picked: Int
        public var enqueued: Int
        public var capRemaining: Int
        public var date: String
    }

    /// Runs the set-based automatic enqueue (see `SQL.AutomationRun`) under the cap lock, for
    /// the default campaign or `campaign` (with its settings `s`).
    /// - Parameter at: the instant to judge at (tests); nil is the database's now.
    public func automationRun(
        _ s: AutomationSettings, dryRun: Bool, at: Date? = nil, campaign: CampaignRecord? = nil
    ) async throws -> AutomationRunCounts {
        let inputs = SQL.EligibilityInputs(
            settings: s, at: at, campaignId: campaign?.id ?? CampaignRecord.defaultID,
            membersOnly: campaign?.audience == .members)
        let prefix = AutomaticQueueJobID.prefix(campaign: campaign.flatMap { $0.isDefault ? nil : $0.name })
        return try await self.pool.transaction(limit: .long) { conn in
            try conn.run(SQL.DialLimitsLock())
            let rows = try conn.rows(SQL.AutomationRun(inputs: inputs, dryRun: dryRun, queueJobIdPrefix: prefix))
            var out = AutomationRunCounts(byReason: [:], eligible: 0, picked: 0, enqueued: 0, capRemaining: 0, date: "")
            for row in rows {
                switch row {
                case .day(let day): out.date = day
                case .count("eligible", let n): out.eligible = n
                case .count("picked", let n): out.picked = n
                case .count("enqueued", let n): out.enqueued = n
                case .count("cap_remaining", let n): out.capRemaining = n
                case .count(let reason, let n): out.byReason[reason] = n
                }
            }
            if out.enqueued > 0 { try self.notifyJobsAvailable(conn) }
            return out
        }
    }

    /// Every customer's eligibility reason (nil: eligible) as `automationRun` judges it, by id.
    public func classifyCustomers(
        _ s: AutomationSettings, at: Date? = nil, campaign: CampaignRecord? = nil
    ) async throws -> [Int64: String?] {
        let inputs = SQL.EligibilityInputs(
            settings: s, at: at, campaignId: campaign?.id ?? CampaignRecord.defaultID,
            membersOnly: campaign?.audience == .members)
        return try await self.pool.withConnection(limit: .long) { conn in
            var out: [Int64: String?] = [:]
            for (id, reason) in try conn.rows(SQL.CustomersClassify(inputs: inputs)) {
                out[id] = reason
            }
            return out
        }
    }

    /// Forgets call-start counters older than `days` days (and 100 ms ones older than ten
    /// minutes); answers how many counter rows went.
    @discardableResult
    public func pruneDialCounters(olderThanDays days: Int = 3) async throws -> Int {
        try await self.pool.withConnection { conn in
            try conn.row(SQL.DialCountersPrune(days: days))
        }
    }
}
