import CampaignCore
import CampaignProtocol
import Foundation

/// What an answer to a report shows of a job: a row of `SQL.reportViewColumns`.
struct ReportView {
    var id: Int64
    var status: JobStatus
    var attemptsMade: Int
    var runAt: String?
    var result: JSONValue?

    init(row r: PQRow) throws {
        self.id = try r.int64("id")
        self.status = JobStatus(rawValue: try r.string("status")) ?? .failed
        self.attemptsMade = try r.int("attempts_made")
        self.runAt = r["run_at"]
        self.result = JSONText.decode(r["result"])
    }

    /// Views by job id.
    static func byId(_ views: [ReportView]) -> [Int64: ReportView] {
        Dictionary(views.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }
}
