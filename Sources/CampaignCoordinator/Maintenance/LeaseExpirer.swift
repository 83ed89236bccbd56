import CampaignStore
import Logging

/// Expires lapsed leases as the state machine decides (CLAIMED → QUEUED again, or FAILED without
/// attempts left; DIALING → FAILED `outcome_unknown`), and wakes the long polls when that made
/// jobs due. Runs on the maintenance leader (it would be safe anywhere — `SKIP LOCKED` plus the
/// state machine's compare-and-set — but one sweeper is less work for the database).
public struct LeaseExpirer: Sendable {
    private let store: PostgresJobStore
    private let logger: Logger
    private let wake: @Sendable () -> Void

    /// - Parameter wake: called when jobs changed (some may be due again).
    public init(store: PostgresJobStore, logger: Logger, wake: @escaping @Sendable () -> Void) {
        self.store = store
        self.logger = logger
        self.wake = wake
    }

    /// One sweep (up to 1,000 jobs); returns the ids of the jobs whose lease expired.
    @discardableResult
    public func runOnce() async throws -> [Int64] {
        let expired = try await self.store.expireLeases()
        if !expired.isEmpty {
            self.logger.notice("leases expired", metadata: ["jobs": "\(expired.count)"])
            self.wake()
        }
        return expired
    }
}
