import CampaignCore
import CampaignProtocol
import Foundation

/// One row of the lease statement.
struct LeaseWrite {
    var id: Int64
    var owner: String
    var token: String
    var status: JobStatus = .active
    var phase: JobPhase? = .claimed
    var idempotencyKey: String?
    var result: JobResult?
    var lastReport: JobStateMachine.ReportKind?

    /// The lease statement; ``expiries(_:)`` reads its rows.
    static func step(_ writes: [LeaseWrite], leaseSeconds: Int) -> PQConnection.PipelineStep {
        .statement(SQL.jobsLeaseWrite, [
            PGArray.encode(writes.map { $0.id }),
            PGArray.encode(writes.map { $0.status.rawValue }),
            PGArray.encode(writes.map { $0.phase?.rawValue }),
            PGArray.encode(writes.map { $0.owner }),
            PGArray.encode(writes.map { $0.token }),
            PGArray.encode(writes.map { $0.idempotencyKey }),
            PGArray.encode(writes.map { w in w.result.map { JSONText.encode($0.json) } }),
            PGArray.encode(writes.map { $0.lastReport?.rawValue }),
            String(leaseSeconds),
        ])
    }

    /// Each ACTIVE job's lease expiry.
    static func expiries(_ rows: PQRows) throws -> [Int64: String] {
        var out: [Int64: String] = [:]
        for r in rows.all { if let e = r["lease_expires_at"] { out[try r.int64("id")] = e } }
        return out
    }
}
