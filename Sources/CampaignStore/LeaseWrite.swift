import CampaignCore
import CampaignProtocol
import Foundation

/// One row of `SQL.JobsLeaseWrite`: a job leased to `owner` as the state machine decided.
struct LeaseWrite {
    var id: Int64
    var owner: String
    var token: String
    var status: JobStatus = .active
    var phase: JobPhase? = .claimed
    var idempotencyKey: String?
    var result: JobResult?
    var lastReport: JobStateMachine.ReportKind?
}
