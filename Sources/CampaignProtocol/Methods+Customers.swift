import CampaignCore
import Foundation

// Customers: customers.upsert, customers.get, customers.list.

/// `customers.upsert`: bulk, idempotent on `externalRef`.
public enum UpsertCustomers: RPCMethod {
    public static let name = "customers.upsert"
    public struct Params: Codable, Sendable, Equatable {
        public var customers: [CustomerInput]
        public init(customers: [CustomerInput]) { self.customers = customers }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var inserted: Int
        public var updated: Int
        public var rejected: [ItemError]
        public init(inserted: Int, updated: Int, rejected: [ItemError]) {
            self.inserted = inserted
            self.updated = updated
            self.rejected = rejected
        }
    }
}

/// A customer as the wire shows it.
public struct CustomerView: Codable, Sendable, Equatable {
    public var id: Int64
    public var externalRef: String
    public var name: String
    public var phone: String
    public var timezone: String
    public var status: CustomerStatus
    public var lastCalledAt: String?
    public var attributes: JSONValue?
    public var createdAt: String
    public var updatedAt: String
    /// The stated region, if any.
    public var region: String?
    /// The regions of the law's rules that apply to this customer (its stated region and what
    /// its phone number implies; `Jurisdictions` in CampaignCore): empty when none does.
    public var jurisdiction: [String]
    /// The consent on record, if any.
    public var consent: Consent?
    public init(
        id: Int64, externalRef: String, name: String, phone: String, timezone: String, status: CustomerStatus,
        lastCalledAt: String?, attributes: JSONValue?, createdAt: String, updatedAt: String, region: String? = nil,
        jurisdiction: [String] = [], consent: Consent? = nil
    ) {
        self.consent = consent
        self.region = region
        self.jurisdiction = jurisdiction
        self.id = id
        self.externalRef = externalRef
        self.name = name
        self.phone = phone
        self.timezone = timezone
        self.status = status
        self.lastCalledAt = lastCalledAt
        self.attributes = attributes
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// `customers.get`: one customer by `id` or `externalRef`.
public enum GetCustomer: RPCMethod {
    public static let name = "customers.get"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        public var id: Int64?
        public var externalRef: String?
        public init(id: Int64? = nil, externalRef: String? = nil) {
            self.id = id
            self.externalRef = externalRef
        }
    }
    public typealias Result = CustomerView
}

/// `customers.list`: by id, with keyset paging, optionally one status.
public enum ListCustomers: RPCMethod {
    public static let name = "customers.list"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        public var status: CustomerStatus?
        /// 1…1000, default 100.
        public var limit: Int?
        public var cursor: String?
        public init(status: CustomerStatus? = nil, limit: Int? = nil, cursor: String? = nil) {
            self.status = status
            self.limit = limit
            self.cursor = cursor
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var customers: [CustomerView]
        public var nextCursor: String?
        public init(customers: [CustomerView], nextCursor: String?) {
            self.customers = customers
            self.nextCursor = nextCursor
        }
    }
}

/// `customers.explain`: "why not now?" — every rule for one customer in one campaign at one
/// instant, each with its verdict, and the next instant the customer could be called. The
/// pre-dial check's own code decides it (the policy, the law's floor, the number's caps).
public enum ExplainCustomer: RPCMethod {
    public static let name = "customers.explain"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        public var id: Int64?
        public var externalRef: String?
        /// The campaign (default: `default`).
        public var campaign: String?
        /// RFC 3339 (default: now).
        public var at: String?
        public init(id: Int64? = nil, externalRef: String? = nil, campaign: String? = nil, at: String? = nil) {
            self.id = id
            self.externalRef = externalRef
            self.campaign = campaign
            self.at = at
        }
    }

    /// One rule's verdict.
    public struct RuleVerdict: Codable, Sendable, Equatable {
        /// The rule's reason name (`not_active` … `daily_cap`).
        public var rule: String
        public var passed: Bool
        /// What the rule looked at, for a person.
        public var detail: String
        public init(rule: String, passed: Bool, detail: String) {
            self.rule = rule
            self.passed = passed
            self.detail = detail
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        public var customerId: Int64
        public var externalRef: String
        public var campaign: String
        /// The instant judged.
        public var at: String
        /// Every rule, in contract order.
        public var rules: [RuleVerdict]
        /// The reason `automation.run` would count the customer under at `at` (absent: it would
        /// enqueue them, cap permitting).
        public var runReason: String?
        /// What the pre-dial check would answer for a job of the customer at `at`: `allowed`,
        /// `deferred` (until `nextAllowedAt`) or `refused` (SKIPPED), with the rule.
        public var dial: String
        public var dialRule: String?
        /// The first instant from `at` on that the customer could be called (absent: not by
        /// waiting: a refusal, or windows that never open).
        public var nextAllowedAt: String?
        /// The regions of the law's rules that apply, and the version of the rule table.
        public var jurisdiction: [String]
        public var rulesVersion: String
        public init(
            customerId: Int64, externalRef: String, campaign: String, at: String, rules: [RuleVerdict], runReason: String?,
            dial: String, dialRule: String?, nextAllowedAt: String?, jurisdiction: [String], rulesVersion: String
        ) {
            self.customerId = customerId
            self.externalRef = externalRef
            self.campaign = campaign
            self.at = at
            self.rules = rules
            self.runReason = runReason
            self.dial = dial
            self.dialRule = dialRule
            self.nextAllowedAt = nextAllowedAt
            self.jurisdiction = jurisdiction
            self.rulesVersion = rulesVersion
        }
    }
}
