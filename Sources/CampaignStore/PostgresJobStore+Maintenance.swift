import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Lease maintenance

extension PostgresJobStore {
    /// Extends the leases of the given owners; returns how many jobs were renewed.
    @discardableResult
    /// - Parameter maximumAgeSeconds: leases started longer ago than this are left to expire.
    public func renewLeases(owners: [String], leaseSeconds: Int, maximumAgeSeconds: Int = 7200) async throws -> Int {
        guard !owners.isEmpty else { return 0 }
        return try await self.pool.withConnection { conn in
            try conn.run(SQL.JobsRenewLeases(
                owners: owners, leaseSeconds: leaseSeconds, maximumAgeSeconds: maximumAgeSeconds)).affected
        }
    }

    /// Moves the held leases whose tokens are still current to `owner`; returns their ids.
    public func adoptLeases(_ leases: [HeldLease], owner: String, leaseSeconds: Int) async throws -> [Int64] {
        // A token that is not a UUID cannot be current: leave it out rather than fail the cast.
        let valid = leases.filter { UUID(uuidString: $0.leaseToken) != nil }
        guard !valid.isEmpty else { return [] }
        return try await self.pool.withConnection { conn in
            try conn.rows(SQL.JobsAdoptLeases(leases: valid, owner: owner, leaseSeconds: leaseSeconds)).sorted()
        }
    }

    /// Expires up to `limit` lapsed leases as the state machine decides (CLAIMED → QUEUED, or
    /// FAILED `lease_expired` without attempts left; DIALING → FAILED `outcome_unknown`).
    /// Returns the job ids changed.
    public func expireLeases(limit: Int = 1000) async throws -> [Int64] {
        try await self.pool.transaction { conn in
            let jobs = LockedJob.byId(try conn.rows(SQL.JobsLockExpired(limit: limit)))
            return try self.applyEvent(.leaseExpired, to: jobs, conn)
        }
    }

    /// Returns the CLAIMED jobs of a lease owner whose connection closed to the queue at once.
    /// DIALING jobs keep their lease: the call may still be running. Returns the job ids changed.
    public func releaseClaimed(owner: String) async throws -> [Int64] {
        try await self.pool.transaction { conn in
            let jobs = LockedJob.byId(try conn.rows(SQL.JobsLockClaimedByOwner(owner: owner)))
            return try self.applyEvent(.connectionLost, to: jobs, conn)
        }
    }
}
