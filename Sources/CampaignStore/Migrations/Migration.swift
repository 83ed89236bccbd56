/// One forward-only schema step. Applied in `version` order inside one transaction that holds
/// an advisory lock, and recorded in `campaign.schema_migrations`.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String

    /// Every migration, oldest first. Never edit one that has shipped: add a new one.
    public static let all: [Migration] = [
        Migration0001Initial.migration,
        Migration0002Eligibility.migration,
        Migration0003DialCounters.migration,
        Migration0004DropDialEvents.migration,
        Migration0005FewerWrites.migration,
        Migration0006OutcomeUnknown.migration,
        Migration0007CallingWindows.migration,
        Migration0008EligibilityWindows.migration,
        Migration0009Campaigns.migration,
        Migration0010CallLogTime.migration,
        Migration0011JobEvents.migration,
        Migration0012Retention.migration,
        Migration0013Jurisdictions.migration,
        Migration0014NumberCalls.migration,
        Migration0015Suppressions.migration,
        Migration0016Reconcile.migration,
    ]
}
