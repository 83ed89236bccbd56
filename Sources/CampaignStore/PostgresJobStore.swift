import CampaignCore
import CampaignProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers

/// The coordinator's view of PostgreSQL: every read and write of campaign data.
///
/// All writes about leased jobs go through ``apply(_:retry:)``, which locks the rows, asks the
/// ``JobStateMachine`` what each request means, and writes the decided transitions in one
/// array-taking statement — so one transaction serves the requests of many agents.
///
/// Its methods live in one file per concern: `+Customers`, `+Enqueue`, `+Leasing`, `+Reports`
/// (agent-side writes), `+Maintenance` (leases), `+Admin`, `+Automation`, `+Reads`, `+Settings`;
/// the rows they lock and write in `LockedJob`, `LeaseWrite`, `TransitionWrite`, `CallLogWrite`,
/// `ReportView`, `DialLimiter`, `RowDecoding`; their SQL, all of it, in `SQL`: one
/// ``Statement`` type per statement (`SQL+<concern>`), run by ``PQConnection`` alone or in a
/// ``Pipeline``.
public final class PostgresJobStore: Sendable {
    public let pool: DatabasePool
    let logger: Logger
    let randomUnit: @Sendable () -> Double

    /// Names this process in notifications, so it can ignore its own.
    public let instanceID: String
    /// Who gets the next lease among campaigns with jobs due, across this process's batches.
    let shares = NIOLockedValueBox(FairShare<Int64>())
    /// Told what each committed batch of the dispatch path did (``observe(with:)``).
    private let observer = NIOLockedValueBox<(any DispatchObserver)?>(nil)

    public init(
        pool: DatabasePool, logger: Logger, instanceID: String = "",
        randomUnit: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.pool = pool
        self.logger = logger
        self.instanceID = instanceID
        self.randomUnit = randomUnit
    }

    /// From now on, tells `observer` what each committed batch of leases and agent requests did.
    public func observe(with observer: any DispatchObserver) {
        self.observer.withLockedValue { $0 = observer }
    }

    /// Passes a committed batch's facts to the observer, if any (the transaction has committed:
    /// an error after this point would not undo the batch).
    func tell(_ facts: DispatchFacts) {
        guard !facts.isEmpty, let o = self.observer.withLockedValue({ $0 }) else { return }
        o.committed(facts)
    }

    /// Tells other coordinators' long polls that jobs may be due (sent at commit).
    func notifyJobsAvailable(_ conn: PQConnection) throws {
        try conn.run(SQL.JobsNotify(sender: self.instanceID))
    }

    // MARK: Schema

    /// Applies missing migrations in one transaction under an advisory lock; returns the versions applied.
    /// Then brings the law's rules in the database up to the shipped ones (``syncJurisdictions(slice:)``).
    @discardableResult
    public func migrate() async throws -> [Int] {
        let applied = try await self.pool.transaction(limit: .unbounded) { conn in
            try conn.exec(SQL.migrationsLock)
            try conn.exec(SQL.migrationsBootstrap)
            let applied = Set(try conn.rows(SQL.MigrationsApplied()))
            var done: [Int] = []
            for m in Migration.all where !applied.contains(m.version) {
                try conn.exec(m.sql)
                try conn.run(SQL.MigrationsRecord(version: m.version, name: m.name))
                done.append(m.version)
            }
            return done
        }
        try await self.syncJurisdictions()
        return applied
    }

    /// True when a trivial statement succeeds.
    public func ping() async -> Bool {
        (try? await self.pool.withConnection { conn in try conn.run(SQL.Ping()).count }) == 1
    }
}
