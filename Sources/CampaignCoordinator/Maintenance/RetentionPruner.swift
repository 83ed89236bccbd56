import CampaignCore
import CampaignProtocol
import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// Deletes what the `retention` setting says has been kept long enough, in bounded batches
/// with a pause between them, so that leasing never waits long behind it (River's job cleaner,
/// graphile-worker's `gc_job_queues`): finished jobs slice by slice of the primary key, then
/// the oldest call logs, then the oldest events. Call logs are pruned on their own clock: a job
/// may go long before its calls' logs do.
///
/// Runs on the maintenance leader once an hour (a pass of a million jobs takes seconds to a
/// minute), and when `retention.prune` asks.
public final class RetentionPruner: Sendable {
    private let store: PostgresJobStore
    private let logger: Logger
    /// Rows per statement.
    public let batch: Int
    /// Between two statements: room for the dispatch path's transactions.
    public let pause: Duration
    /// How often the leader starts a pass by itself.
    public let every: Duration
    private let state = NIOLockedValueBox<(running: Bool, last: ContinuousClock.Instant?)>((false, nil))

    public init(
        store: PostgresJobStore, logger: Logger, batch: Int = 2000, pause: Duration = .milliseconds(20),
        every: Duration = .seconds(3600)
    ) {
        self.store = store
        self.logger = logger
        self.batch = batch
        self.pause = pause
        self.every = every
    }

    /// Starts a pass in the background when one is due and none is running (the leader's round).
    func startIfDue(_ retention: Retention, at now: ContinuousClock.Instant) {
        let start = self.state.withLockedValue { s -> Bool in
            guard !s.running, s.last.map({ now - $0 >= self.every }) ?? true else { return false }
            s = (true, now)
            return true
        }
        guard start else { return }
        Task {
            defer { self.state.withLockedValue { $0.running = false } }
            do {
                _ = try await self.pass(retention)
            } catch {
                self.logger.warning("retention pass failed; the next one goes on", metadata: ["error": "\(error)"])
            }
        }
    }

    /// One whole pass at the present time; returns what went.
    public func pass(_ retention: Retention, now: Date = Date()) async throws -> PruneCounts {
        let cutoffs = retention.cutoffs(now: now.timeIntervalSince1970)
        let started = ContinuousClock.now
        var deleted = PruneCounts()
        if !cutoffs.keepsEveryJob {
            var after: Int64 = 0
            while !Task.isCancelled {
                let slice = try await self.store.pruneJobs(after: after, scan: self.batch, cutoffs: cutoffs)
                deleted = deleted + slice.deleted
                guard let last = slice.lastId else { break }
                after = last
                try await Task.sleep(for: self.pause)
            }
        }
        while !Task.isCancelled {
            let n = try await self.store.pruneCallLogs(before: cutoffs.callLogs, limit: self.batch)
            deleted.callLogs += n
            if n < self.batch { break }
            try await Task.sleep(for: self.pause)
        }
        while !Task.isCancelled {
            let n = try await self.store.pruneAudit(before: cutoffs.callLogs, limit: self.batch)
            deleted.audit += n
            if n < self.batch { break }
            try await Task.sleep(for: self.pause)
        }
        while !Task.isCancelled {
            let n = try await self.store.pruneEvents(before: cutoffs.events, limit: self.batch)
            deleted.events += n
            if n < self.batch { break }
            try await Task.sleep(for: self.pause)
        }
        if deleted.total > 0 {
            self.logger.notice(
                "retention pass",
                metadata: [
                    "jobs.completed": "\(deleted.COMPLETED)", "jobs.skipped": "\(deleted.SKIPPED)", "jobs.failed": "\(deleted.FAILED)",
                    "call_logs": "\(deleted.callLogs)", "events": "\(deleted.events)", "audit": "\(deleted.audit)", "took": "\(ContinuousClock.now - started)",
                ])
        }
        return deleted
    }
}
