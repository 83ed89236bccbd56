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

extension CallLogWrite {
    /// Whether the call's end is known (an unknown outcome's record says `outcomeKnown: false`).
    var outcomeKnown: Bool {
        if case .object(let d)? = self.call.detail, d["outcomeKnown"] == .bool(false) { return false }
        return true
    }

    /// One write per call (job and attempt): the statement may not touch a row twice. A known
    /// outcome wins over an unknown one (the report that settles the call); otherwise the first.
    static func onePerCall(_ writes: [CallLogWrite]) -> [CallLogWrite] {
        var kept: [String: Int] = [:]
        var out: [CallLogWrite] = []
        for w in writes {
            let key = "\(w.jobId)#\(w.attempt)"
            if let i = kept[key] {
                if !out[i].outcomeKnown && w.outcomeKnown { out[i] = w }
            } else {
                kept[key] = out.count
                out.append(w)
            }
        }
        return out
    }
}
