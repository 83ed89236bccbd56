import CampaignCore
import CampaignProtocol
import Foundation

/// One row of the transitions statement.
struct TransitionWrite {
    var id: Int64
    var status: JobStatus = .queued
    var phase: JobPhase?
    var delayMs: Int?
    var result: [String: JSONValue]?
    var idempotencyKey: String?
    var maxAttempts: Int?
    var lastReport: JobStateMachine.ReportKind?

    /// Two transitions of one job in one batch: the later wins, keeping what it leaves unset.
    mutating func mergeKeeping(_ earlier: TransitionWrite) {
        if self.result == nil { self.result = earlier.result }
        if self.idempotencyKey == nil { self.idempotencyKey = earlier.idempotencyKey }
        if self.maxAttempts == nil { self.maxAttempts = earlier.maxAttempts }
    }

    /// Writes the transitions; answers each written job's report view.
    @discardableResult
    static func apply(_ conn: PQConnection, _ writes: [TransitionWrite]) throws -> [Int64: ReportView] {
        let step = self.step(writes)
        return try ReportView.views(try conn.execute(step.statement, step.params))
    }

    /// The transitions statement; its rows are the written jobs' report views.
    static func step(_ writes: [TransitionWrite]) -> PQConnection.PipelineStep {
        .statement(SQL.jobsApplyTransitions, [
            PGArray.encode(writes.map { $0.id }),
            PGArray.encode(writes.map { $0.status.rawValue }),
            PGArray.encode(writes.map { $0.phase?.rawValue }),
            PGArray.encode(writes.map { $0.delayMs }),
            PGArray.encode(writes.map { w in w.result.map { JSONText.encode(.object($0)) } }),
            PGArray.encode(writes.map { $0.idempotencyKey }),
            PGArray.encode(writes.map { $0.maxAttempts }),
            PGArray.encode(writes.map { $0.lastReport?.rawValue }),
        ])
    }
}
