import CampaignCore
import CampaignProtocol
import Foundation

/// One row of `SQL.JobsApplyTransitions`: a job and the write its state machine decided.
struct TransitionWrite {
    var id: Int64
    var write: JobWrite

    /// Writes the transitions; answers each written job's report view.
    @discardableResult
    static func apply(_ conn: PQConnection, _ writes: [TransitionWrite]) throws -> [Int64: ReportView] {
        ReportView.byId(try conn.rows(SQL.JobsApplyTransitions(writes: writes)))
    }
}
