import CampaignCore
import CampaignProtocol
import Foundation

/// One row of `SQL.CallLogsInsert`.
struct CallLogWrite {
    var jobId: Int64
    var customerId: Int64
    /// The job's campaign, kept on the call log (which may outlive its job).
    var campaignId: Int64
    var attempt: Int
    var agent: String
    var call: CallRecord

    /// Nil when the record's idempotency key does not belong to this job (a confused agent).
    init?(call: CallRecord, job: LockedJob, agent: String) {
        guard let attempt = IdempotencyKey.attempt(of: call.idempotencyKey, queueJobId: job.queueJobId) else { return nil }
        self.jobId = job.id
        self.customerId = job.customerId
        self.campaignId = job.campaignId
        self.attempt = attempt
        self.agent = agent
        self.call = call
    }
}
