import CampaignCore
import Foundation

// The suppression list (issue 15): suppressions.add, suppressions.remove, suppressions.list.

/// One number to suppress.
public struct SuppressionInput: Codable, Sendable, Equatable {
    /// International number, normalised as `customers.upsert` does (stored E.164).
    public var phone: String
    /// Why (default `manual`), at most 200 bytes.
    public var reason: String?
    /// Where it came from (default `api`), at most 200 bytes: `opt_out_call`, `dnc_list`, a file's name.
    public var source: String?
    /// RFC 3339; absent: for good.
    public var expiresAt: String?

    public init(phone: String, reason: String? = nil, source: String? = nil, expiresAt: String? = nil) {
        self.phone = phone
        self.reason = reason
        self.source = source
        self.expiresAt = expiresAt
    }
}

/// A suppressed number as the wire shows it.
public struct SuppressionView: Codable, Sendable, Equatable {
    public var phone: String
    public var reason: String
    public var source: String
    public var addedAt: String
    /// Who added it: `uid:N` of the caller, or `agent:ID` for an opt-out a call reported.
    public var addedBy: String
    /// Absent: for good.
    public var expiresAt: String?

    public init(phone: String, reason: String, source: String, addedAt: String, addedBy: String, expiresAt: String? = nil) {
        self.phone = phone
        self.reason = reason
        self.source = source
        self.addedAt = addedAt
        self.addedBy = addedBy
        self.expiresAt = expiresAt
    }
}

/// `suppressions.add`: bulk, idempotent on the number (a number already on the list takes the
/// new reason, source and expiry). Every change is recorded for the audit.
public enum AddSuppressions: RPCMethod {
    public static let name = "suppressions.add"
    public static let requiredRole = AccessRole.admin
    public struct Params: Codable, Sendable, Equatable {
        public var suppressions: [SuppressionInput]
        public init(suppressions: [SuppressionInput]) { self.suppressions = suppressions }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var added: Int
        public var updated: Int
        public var rejected: [ItemError]
        public init(added: Int, updated: Int, rejected: [ItemError]) {
            self.added = added
            self.updated = updated
            self.rejected = rejected
        }
    }
}

/// `suppressions.remove`: takes numbers off the list (recorded for the audit).
public enum RemoveSuppressions: RPCMethod {
    public static let name = "suppressions.remove"
    public static let requiredRole = AccessRole.admin
    public struct Params: Codable, Sendable, Equatable {
        public var phones: [String]
        public init(phones: [String]) { self.phones = phones }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var removed: Int
        /// Numbers that were not on the list (or not numbers), as given.
        public var notFound: [String]
        public init(removed: Int, notFound: [String]) {
            self.removed = removed
            self.notFound = notFound
        }
    }
}

/// `suppressions.list`: the list in number order, keyset paging; or one number.
public enum ListSuppressions: RPCMethod {
    public static let name = "suppressions.list"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        /// Only this number (normalised first).
        public var phone: String?
        /// 1…1000, default 100.
        public var limit: Int?
        public var cursor: String?
        public init(phone: String? = nil, limit: Int? = nil, cursor: String? = nil) {
            self.phone = phone
            self.limit = limit
            self.cursor = cursor
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var suppressions: [SuppressionView]
        public var nextCursor: String?
        public init(suppressions: [SuppressionView], nextCursor: String? = nil) {
            self.suppressions = suppressions
            self.nextCursor = nextCursor
        }
    }
}

/// `audit.summary`: the law's audit of a time window (the daily report's): the pre-dial check's
/// refusals and deferrals by rule, and the changes of the suppression list, oldest first.
public enum AuditSummary: RPCMethod {
    public static let name = "audit.summary"
    public static let requiredRole = AccessRole.reader
    public struct Params: Codable, Sendable, Equatable {
        /// RFC 3339, inclusive.
        public var since: String
        /// RFC 3339, exclusive.
        public var until: String
        /// Suppression changes listed, 1…1000 (default 100); `suppressionChangesTotal` counts all.
        public var limit: Int?
        public init(since: String, until: String, limit: Int? = nil) {
            self.since = since
            self.until = until
            self.limit = limit
        }
    }

    /// One change of the suppression list.
    public struct SuppressionChange: Codable, Sendable, Equatable {
        public var at: String
        public var phone: String
        /// `added`, `updated` or `removed`.
        public var action: String
        public var reason: String?
        public var source: String?
        public var by: String
        public init(at: String, phone: String, action: String, reason: String?, source: String?, by: String) {
            self.at = at
            self.phone = phone
            self.action = action
            self.reason = reason
            self.source = source
            self.by = by
        }
    }

    public struct Result: Codable, Sendable, Equatable {
        /// Refusals and deferrals of the pre-dial check, by rule.
        public var refusalsByRule: [String: Int]
        public var suppressionChanges: [SuppressionChange]
        public var suppressionChangesTotal: Int
        public init(refusalsByRule: [String: Int], suppressionChanges: [SuppressionChange], suppressionChangesTotal: Int) {
            self.refusalsByRule = refusalsByRule
            self.suppressionChanges = suppressionChanges
            self.suppressionChangesTotal = suppressionChangesTotal
        }
    }
}
