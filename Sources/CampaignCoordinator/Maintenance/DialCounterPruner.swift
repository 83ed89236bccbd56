import CampaignCore
import CampaignStore
import NIOConcurrencyHelpers

/// Forgets call-start counters older than `keepDays` (and 100 ms ones older than ten minutes)
/// once per `interval`, on the maintenance leader: the daily cap and the rate limits look at
/// today and the last 100 s at most.
public final class DialCounterPruner: Sendable {
    public enum Outcome: Sendable, Equatable {
        case notDue
        /// Counter rows removed.
        case pruned(Int)
    }

    private let store: PostgresJobStore
    private let keepDays: Int
    private let interval: Duration
    private let cadence = NIOLockedValueBox(Cadence())

    public init(store: PostgresJobStore, keepDays: Int = 3, interval: Duration = .seconds(3600)) {
        self.store = store
        self.keepDays = keepDays
        self.interval = interval
    }

    /// One round at `now`. A failed prune is not retried before the next interval.
    @discardableResult
    public func runOnce(at now: ContinuousClock.Instant = .now) async throws -> Outcome {
        guard self.cadence.withLockedValue({ $0.claim(at: now, every: self.interval) }) else { return .notDue }
        return .pruned(try await self.store.pruneDialCounters(olderThanDays: self.keepDays))
    }
}
