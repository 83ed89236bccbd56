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
