import CampaignCore
import CampaignProtocol
import Foundation

/// One row of the call-log insert.
struct CallLogWrite {
    var jobId: Int64
    var customerId: Int64
    var attempt: Int
    var agent: String
    var call: CallRecord

    /// Nil when the record's idempotency key does not belong to this job (a confused agent).
    init?(call: CallRecord, job: LockedJob, agent: String) {
        guard let attempt = IdempotencyKey.attempt(of: call.idempotencyKey, queueJobId: job.queueJobId) else { return nil }
        self.jobId = job.id
        self.customerId = job.customerId
        self.attempt = attempt
        self.agent = agent
        self.call = call
    }

    static func step(_ rows: [CallLogWrite]) -> PQConnection.PipelineStep {
        .statement(SQL.callLogsInsert, [
            PGArray.encode(rows.map { $0.jobId }),
            PGArray.encode(rows.map { $0.customerId }),
            PGArray.encode(rows.map { $0.attempt }),
            PGArray.encode(rows.map { $0.agent }),
            PGArray.encode(rows.map { $0.call.provider }),
            PGArray.encode(rows.map { $0.call.providerCallId }),
            PGArray.encode(rows.map { $0.call.idempotencyKey }),
            PGArray.encode(rows.map { $0.call.startedAt }),
            PGArray.encode(rows.map { $0.call.endedAt }),
            PGArray.encode(rows.map { $0.call.outcome.rawValue }),
            PGArray.encode(rows.map { $0.call.durationMs }),
            PGArray.encode(rows.map { r in r.call.detail.map { JSONText.encode($0) } }),
        ])
    }
}
