import CampaignCore
import CampaignProtocol
import Foundation

/// What an answer to a report shows of a job.
struct ReportView {
    var status: JobStatus
    var attemptsMade: Int
    var runAt: String?
    var result: JSONValue?

    static func loadStep(ids: [Int64]) -> PQConnection.PipelineStep {
        .statement(SQL.jobsReportView, [PGArray.encode(ids)])
    }

    /// Rows of `SQL.reportViewColumns`, by job id.
    static func views(_ rows: PQRows) throws -> [Int64: ReportView] {
        var out: [Int64: ReportView] = [:]
        for r in rows.all {
            out[try r.int64("id")] = ReportView(
                status: JobStatus(rawValue: try r.string("status")) ?? .failed,
                attemptsMade: try r.int("attempts_made"), runAt: r["run_at"], result: JSONText.decode(r["result"]))
        }
        return out
    }
}
