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

    static func automationParams(_ s: AutomationSettings, dryRun: Bool, at: Date?) -> [String?] {
        [
            s.timezone, s.workingHoursStart, s.workingHoursEnd, PGArray.encode(s.workingDays),
            String(s.cooldownMinutes), String(s.dailyCap), String(s.maxAttempts), dryRun ? "true" : "false",
            // Whole microseconds, floored (PostgreSQL's resolution): rounding would move an instant
            // just before a boundary (09:00, midnight, a cooldown's end) onto it. From the reference
            // date, which Date stores, so no precision is lost on the way.
            at.map { String(Int64(($0.timeIntervalSinceReferenceDate * 1_000_000).rounded(.down)) + 978_307_200_000_000) },
        ]
    }

    /// Runs the set-based automatic enqueue (see `SQL.automationRun`) under the cap lock.
    /// - Parameter at: the instant to judge at (tests); nil is the database's now.
    public func automationRun(_ s: AutomationSettings, dryRun: Bool, at: Date? = nil) async throws -> AutomationRunCounts {
        try await self.pool.transaction { conn in
            try conn.execute(SQL.dialLimitsLock)
            let rows = try conn.execute(SQL.automationRun, Self.automationParams(s, dryRun: dryRun, at: at))
            var out = AutomationRunCounts(byReason: [:], eligible: 0, picked: 0, enqueued: 0, capRemaining: 0, date: "")
            for r in rows.all {
                let k = try r.string("k")
                let n = try r.int("n")
                switch k {
                case "eligible": out.eligible = n
                case "picked": out.picked = n
                case "enqueued": out.enqueued = n
                case "cap_remaining": out.capRemaining = n
                case _ where k.hasPrefix("date:"): out.date = String(k.dropFirst(5))
                default: out.byReason[k] = n
                }
            }
            if out.enqueued > 0 { try self.notifyJobsAvailable(conn) }
            return out
        }
    }

    /// Every customer's eligibility reason (nil: eligible) as `automationRun` judges it, by id.
    public func classifyCustomers(_ s: AutomationSettings, at: Date? = nil) async throws -> [Int64: String?] {
        try await self.pool.withConnection { conn in
            var out: [Int64: String?] = [:]
            for r in try conn.execute(SQL.customersClassify, Self.automationParams(s, dryRun: true, at: at)).all {
                out[try r.int64("id")] = r["reason"]
            }
            return out
        }
    }

    /// Forgets call-start counters older than `days` days (and 100 ms ones older than ten
    /// minutes); answers how many counter rows went.
    @discardableResult
    public func pruneDialCounters(olderThanDays days: Int = 3) async throws -> Int {
        try await self.pool.withConnection { conn in
            try conn.execute(SQL.dialCountersPrune, [String(days)]).row(0).int("n")
        }
    }
}
