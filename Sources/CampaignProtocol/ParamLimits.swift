/// The limits of the methods' params, declared once. The coordinator enforces them through each
/// params type's `validate()` (the router calls it before the handler); a client may call it
/// before it sends.
public enum ParamLimits {
    /// `agent.hello` agentId: characters, of `[A-Za-z0-9._@:-]`.
    public static let agentIdLength = 1...64
    /// `agent.hello` capacity, `jobs.lease` max.
    public static let agentCapacity = 1...1000
    public static let leaseMax = 1...1000
    /// Leases an agent may name in `agent.hello`.
    public static let heldLeases = 0...1000
    /// A reason: `jobs.skip`, the `jobs.list` filter, `jobs.enqueue`'s.
    public static let reasonBytes = 1...200
    /// `jobs.fail` error.
    public static let errorBytes = 1...2000
    /// Attempts of a job (`maxAttempts`) and of a retry (`jobs.retry` attempts).
    public static let attempts = 1...100
    /// Job ids of one `jobs.retry` or `jobs.cancel`.
    public static let jobIdsPerCall = 1...1000
    /// A caller's `queueJobId`.
    public static let queueJobIdBytes = 1...200
    /// A campaign's `title`.
    public static let campaignTitleBytes = 0...200
    /// A campaign's `priority`: its weight in the share of leases.
    public static let campaignPriority = 1...1000
    /// Customers of one `campaigns.addMembers` / `removeMembers`.
    public static let membersPerCall = 1...10_000
}

/// Params that check their own limits (``ParamLimits``): `validate()` throws the error to answer,
/// an ``RPCError`` (VALIDATION_FAILED, or INVALID_PARAMS for a shape the types cannot say).
public protocol ValidatedParams: Sendable {
    func validate() throws
}

extension ClosedRange where Bound == Int {
    /// "1…200": how the messages write a range.
    public var wording: String { "\(self.lowerBound)…\(self.upperBound)" }
}
