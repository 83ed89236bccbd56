import CampaignCore
import Foundation

// Housekeeping: retention.prune.

/// `retention.prune`: deletes now, in bounded batches, what the `retention` setting says has
/// been kept long enough (the leader also does it by itself every hour); with `dryRun`, only
/// counts it.
public enum PruneRetention: RPCMethod {
    public static let name = "retention.prune"
    public static let requiredRole = AccessRole.admin
    public struct Params: Codable, Sendable, Equatable {
        public var dryRun: Bool?
        public init(dryRun: Bool? = nil) { self.dryRun = dryRun }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var dryRun: Bool
        /// What went (or, in a dry run, would go).
        public var deleted: PruneCounts
        /// The setting it applied.
        public var retention: RetentionSetting
        /// Rows older than these instants go (absent: that kind is kept forever).
        public var before: PruneCutoffs
        public init(dryRun: Bool, deleted: PruneCounts, retention: RetentionSetting, before: PruneCutoffs) {
            self.dryRun = dryRun
            self.deleted = deleted
            self.retention = retention
            self.before = before
        }
    }
}

/// Rows by kind: finished jobs by state, call logs, events, and the law's audit (the pre-dial
/// check's refusals and the suppression list's changes, kept as long as call logs).
public struct PruneCounts: Codable, Sendable, Equatable {
    public var COMPLETED: Int
    public var SKIPPED: Int
    public var FAILED: Int
    public var callLogs: Int
    public var events: Int
    public var audit: Int

    public init(completed: Int = 0, skipped: Int = 0, failed: Int = 0, callLogs: Int = 0, events: Int = 0, audit: Int = 0) {
        self.audit = audit
        self.COMPLETED = completed
        self.SKIPPED = skipped
        self.FAILED = failed
        self.callLogs = callLogs
        self.events = events
    }

    public static func + (a: PruneCounts, b: PruneCounts) -> PruneCounts {
        PruneCounts(
            completed: a.COMPLETED + b.COMPLETED, skipped: a.SKIPPED + b.SKIPPED, failed: a.FAILED + b.FAILED,
            callLogs: a.callLogs + b.callLogs, events: a.events + b.events, audit: a.audit + b.audit)
    }

    public var total: Int { self.COMPLETED + self.SKIPPED + self.FAILED + self.callLogs + self.events + self.audit }
}

/// The instants (RFC 3339) before which each kind goes; absent: kept forever.
public struct PruneCutoffs: Codable, Sendable, Equatable {
    public var COMPLETED: String?
    public var SKIPPED: String?
    public var FAILED: String?
    public var callLogs: String?
    public var events: String?

    public init(_ c: Retention.Cutoffs) {
        func f(_ s: Double?) -> String? { s.map { Timestamp.string(Date(timeIntervalSince1970: $0)) } }
        self.COMPLETED = f(c.completed)
        self.SKIPPED = f(c.skipped)
        self.FAILED = f(c.failed)
        self.callLogs = f(c.callLogs)
        self.events = f(c.events)
    }
}
