import CampaignCore
import Foundation

// Settling unknown outcomes from the provider (issue 16): jobs.reconcile (agents) and
// jobs.reconcileNow (admins).

/// `jobs.reconcile`: up to `max` jobs FAILED `outcome_unknown` for the agent to look up at the
/// provider (a lookup never creates a call). Each job handed out is not handed out again before
/// the `reconcileIntervalSeconds` setting has passed, and only within `reconcileWindowSeconds`
/// of its failure (or of an admin's `jobs.reconcileNow`). The agent reports what it learnt with
/// the job's `leaseToken` like any late report: `jobs.complete` / `jobs.fail` with the call's
/// real outcome (`call.detail.reconciled: true`), or `jobs.fail` with `notPlaced: true` when the
/// provider says it has no such call. When the lookup learnt nothing it reports nothing.
public enum ReconcileJobs: RPCMethod {
    public static let name = "jobs.reconcile"
    public static let requiredRole = AccessRole.agent
    /// Most jobs in one answer.
    public static let maximumJobs = 100
    public struct Params: Codable, Sendable, Equatable {
        /// 1…100.
        public var max: Int
        /// The agent's placer (`http`, `exec`): only jobs whose call was logged by a placer of
        /// this name, or whose call was never logged (its agent died while dialing), are handed out.
        public var provider: String
        public init(max: Int, provider: String) {
            self.max = max
            self.provider = provider
        }
    }
    public struct Result: Codable, Sendable, Equatable {
        public var calls: [UnknownCall]
        public init(calls: [UnknownCall]) { self.calls = calls }
    }
}

/// A job whose call's outcome is unknown, handed out for a lookup.
public struct UnknownCall: Codable, Sendable, Equatable {
    public var jobId: Int64
    public var queueJobId: String
    /// The token of the lease the call was placed under: the lookup's report carries it.
    public var leaseToken: String
    public var attempt: Int
    public var maxAttempts: Int
    public var reason: String?
    public var customer: CallTarget
    /// The attempt's key: the provider placed at most one call under it.
    public var idempotencyKey: String
    /// The provider's id of the call, when its acceptance was reported.
    public var providerCallId: String?
    /// The placer that logged the call, if one did.
    public var provider: String?
    /// Lookups handed out for this job so far, this one included.
    public var lookups: Int

    public init(
        jobId: Int64, queueJobId: String, leaseToken: String, attempt: Int, maxAttempts: Int, reason: String?,
        customer: CallTarget, idempotencyKey: String, providerCallId: String?, provider: String?, lookups: Int
    ) {
        self.jobId = jobId
        self.queueJobId = queueJobId
        self.leaseToken = leaseToken
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.reason = reason
        self.customer = customer
        self.idempotencyKey = idempotencyKey
        self.providerCallId = providerCallId
        self.provider = provider
        self.lookups = lookups
    }
}

/// `jobs.reconcileNow`: jobs FAILED `outcome_unknown` are due for a lookup now, and for another
/// `reconcileWindowSeconds` from now (also when their own window has passed). The next agent
/// that asks `jobs.reconcile` looks them up. Other jobs are rejected (`INVALID_STATE`).
public enum ReconcileJobsNow: RPCMethod {
    public static let name = "jobs.reconcileNow"
    public struct Params: Codable, Sendable, Equatable {
        /// 1…1000 job ids.
        public var ids: [Int64]
        public init(ids: [Int64]) { self.ids = ids }
    }
    public typealias Result = AdminChangeResult
}
