import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Admin

extension PostgresJobStore {
    /// What an admin change did to one job.
    public enum AdminOutcome: Sendable, Equatable {
        case changed
        case rejected(JobStatus)
        case notFound
    }

    /// Applies an admin event (`retryRequested` or `cancelRequested`) to the given jobs, as the
    /// state machine decides. A retry makes the job due now with `retryBudget` more attempts.
    public func admin(
        _ event: JobStateMachine.Event, ids: [Int64], retryBudget: Int = 1
    ) async throws -> [Int64: AdminOutcome] {
        guard !ids.isEmpty else { return [:] }
        return try await self.pool.transaction { conn in
            let jobs = try LockedJob.lock(conn, ids: Array(Set(ids)).sorted(), withCustomers: false)
            var outcomes: [Int64: AdminOutcome] = [:]
            var writes: [TransitionWrite] = []
            for id in ids {
                guard var job = jobs[id] else {
                    outcomes[id] = .notFound
                    continue
                }
                let (decision, write) = job.machine.write(event, retryBudget: retryBudget)
                guard case .transition = decision, let write else {
                    outcomes[id] = .rejected(job.machine.snapshot.status)
                    continue
                }
                writes.append(TransitionWrite(id: id, write: write))
                outcomes[id] = .changed
            }
            if !writes.isEmpty { try TransitionWrite.apply(conn, writes) }
            if writes.contains(where: { $0.write.status == .queued }) { try self.notifyJobsAvailable(conn) }
            return outcomes
        }
    }

    /// Applies one event without a token (expiry, connection loss) to locked jobs.
    func applyEvent(
        _ event: JobStateMachine.Event, to jobs: [Int64: LockedJob], _ conn: PQConnection
    ) throws -> [Int64] {
        var writes: [TransitionWrite] = []
        for var job in jobs.values {
            guard case (.transition, let write?) = job.machine.write(event) else { continue }
            writes.append(TransitionWrite(id: job.id, write: write))
        }
        if !writes.isEmpty { try TransitionWrite.apply(conn, writes) }
        if writes.contains(where: { $0.write.status == .queued }) { try self.notifyJobsAvailable(conn) }
        return writes.map(\.id).sorted()
    }
}
