import CampaignCore
import Foundation

// The automation settings and runs: automation.get, automation.set, automation.run.

/// The params of a method about one campaign's settings: the default campaign when none is named.
public struct CampaignParam: Codable, Sendable, Equatable {
    public var campaign: String?
    public init(campaign: String? = nil) { self.campaign = campaign }
}

/// `automation.get`: the current settings (of the default campaign, or of `campaign`).
public enum GetAutomation: RPCMethod {
    public static let name = "automation.get"
    public static let requiredRole = AccessRole.reader
    public typealias Params = CampaignParam
    public typealias Result = AutomationSettings
}

/// `automation.set`: changes some settings (a partial object: `{"dailyCap": 500}`, and
/// `"campaign": "<name>"` for another campaign than the default); every field is validated and
/// nothing is half-applied; each change is logged with the caller's uid.
public enum SetAutomation: RPCMethod {
    public static let name = "automation.set"
    public struct Params: Codable, Sendable, Equatable {
        public var values: [String: JSONValue]
        /// The campaign (nil: the default one).
        public var campaign: String?
        public init(_ values: [String: JSONValue], campaign: String? = nil) {
            self.values = values
            self.campaign = campaign
        }
        public init(from decoder: any Decoder) throws {
            var values = try decoder.singleValueContainer().decode([String: JSONValue].self)
            switch values.removeValue(forKey: "campaign") {
            case nil: self.campaign = nil
            case .string(let name)?: self.campaign = name
            case _?:
                throw DecodingError.typeMismatch(
                    String.self, .init(codingPath: [], debugDescription: "campaign must be a campaign name"))
            }
            self.values = values
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            var values = self.values
            if let campaign = self.campaign { values["campaign"] = .string(campaign) }
            try c.encode(values)
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
        /// The campaign to run (nil: the default one).
        public var campaign: String?
        public init(dryRun: Bool? = nil, campaign: String? = nil) {
            self.dryRun = dryRun
            self.campaign = campaign
        }
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
        /// The campaign run.
        public var campaign: String?
        /// The campaign-local date of the run.
        public var date: String
        /// Calls the cap still allowed when the run started.
        public var capRemaining: Int
        public var dryRun: Bool
        public init(
            considered: Int, enqueued: Int, eligible: Int, leftOut: [String: Int], date: String, capRemaining: Int,
            dryRun: Bool, campaign: String? = nil
        ) {
            self.campaign = campaign
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
