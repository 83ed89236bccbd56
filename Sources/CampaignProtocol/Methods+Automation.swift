import CampaignCore
import Foundation

// The automation settings and runs: automation.get, automation.set, automation.run.

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
