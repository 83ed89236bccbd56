import CampaignCore
import CampaignProtocol
import Foundation

/// One row of the transitions statement: a job and the write its state machine decided.
struct TransitionWrite {
    var id: Int64
    var write: JobWrite

    /// Writes the transitions; answers each written job's report view.
    @discardableResult
    static func apply(_ conn: PQConnection, _ writes: [TransitionWrite]) throws -> [Int64: ReportView] {
        let step = self.step(writes)
        return try ReportView.views(try conn.execute(step.statement, step.params))
    }

    /// The transitions statement; its rows are the written jobs' report views.
    static func step(_ rows: [TransitionWrite]) -> PQConnection.PipelineStep {
        .statement(SQL.jobsApplyTransitions, [
            PGArray.encode(rows.map { $0.id }),
            PGArray.encode(rows.map { $0.write.status.rawValue }),
            PGArray.encode(rows.map { $0.write.phase?.rawValue }),
            PGArray.encode(rows.map { $0.write.delayMs }),
            PGArray.encode(rows.map { r in r.write.result.map { JSONText.encode($0.json) } }),
            PGArray.encode(rows.map { $0.write.idempotencyKey?.description }),
            PGArray.encode(rows.map { $0.write.maxAttempts }),
            PGArray.encode(rows.map { $0.write.lastReport?.rawValue }),
            PGArray.encode(rows.map { $0.write.outcomeUnknown ? "t" : "f" }),
        ])
    }
}
