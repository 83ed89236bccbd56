import CampaignProtocol
import CampaignRPC
import NIOConcurrencyHelpers

/// Carries the agent's reports to the coordinator, several per `jobs.report` request.
///
/// A report is sent at once while fewer than `maximumInFlight` report requests are on their
/// way; the reports of calls that end meanwhile wait and go together in the next request (like
/// the coordinator's own group commit: no timer, an idle agent sends a lone report at once, a
/// busy one batches more). Each caller gets its own report's answer or error, so the delivery
/// loop around it (retries, drops, the spool) is the same as for one report per request.
///
/// A coordinator that does not know `jobs.report` (an older version during an upgrade) answers
/// METHOD_NOT_FOUND; from then on this sender uses `jobs.complete` / `jobs.fail` / `jobs.skip`.
final class ReportSender: Sendable {
    private typealias Waiter = CheckedContinuation<ReportResult, any Error>

    private struct Item {
        let report: JobReport
        let client: RPCClient
        /// A bound on the report's JSON bytes, for the request size cap.
        let cost: Int
        let waiter: Waiter
    }

    private struct State {
        var pending: [Item] = []
        var inFlight = 0
        var batchesUnsupported = false
    }

    private let state = NIOLockedValueBox(State())
    let maximumInFlight: Int
    let maximumReports: Int
    let maximumBytes: Int

    init(maximumInFlight: Int = 2, maximumReports: Int = 200, maximumBytes: Int = 256 << 10) {
        self.maximumInFlight = maximumInFlight
        self.maximumReports = min(maximumReports, ReportJobs.maximumReports)
        self.maximumBytes = maximumBytes
    }

    /// The answer to one report, or the error its own method would have answered.
    func send(_ report: JobReport, via client: RPCClient) async throws -> ReportResult {
        if self.state.withLockedValue({ $0.batchesUnsupported }) { return try await Self.single(report, via: client) }
        return try await withCheckedThrowingContinuation { (cont: Waiter) in
            let item = Item(report: report, client: client, cost: Self.cost(report), waiter: cont)
            let start = self.state.withLockedValue { s -> Bool in
                s.pending.append(item)
                guard s.inFlight < self.maximumInFlight else { return false }
                s.inFlight += 1
                return true
            }
            if start { Task { await self.flush() } }
        }
    }

    private func flush() async {
        while true {
            let batch: [Item] = self.state.withLockedValue { s in
                guard let first = s.pending.first else {
                    s.inFlight -= 1
                    return []
                }
                // The oldest report's connection; reports for another one wait for their own request.
                var take: [Item] = []
                var rest: [Item] = []
                var bytes = 0
                for item in s.pending {
                    if item.client === first.client, take.count < self.maximumReports,
                        take.isEmpty || bytes + item.cost <= self.maximumBytes
                    {
                        take.append(item)
                        bytes += item.cost
                    } else {
                        rest.append(item)
                    }
                }
                s.pending = rest
                return take
            }
            guard let client = batch.first?.client else { return }
            do {
                let answer = try await client.call(ReportJobs.self, ReportJobs.Params(reports: batch.map(\.report)))
                guard answer.results.count == batch.count else {
                    let e = RPCError(.internalError, "jobs.report answered \(answer.results.count) results for \(batch.count) reports")
                    for item in batch { item.waiter.resume(throwing: e) }
                    continue
                }
                for (item, a) in zip(batch, answer.results) {
                    if let r = a.result {
                        item.waiter.resume(returning: r)
                    } else {
                        item.waiter.resume(throwing: a.error ?? RPCError(.internalError, "jobs.report: neither result nor error"))
                    }
                }
            } catch let error as RPCError where error.symbol == RPCErrorCode.methodNotFound.name {
                self.state.withLockedValue { $0.batchesUnsupported = true }
                for item in batch {
                    let (report, waiter) = (item.report, item.waiter)
                    Task {
                        do { waiter.resume(returning: try await Self.single(report, via: client)) } catch { waiter.resume(throwing: error) }
                    }
                }
            } catch {
                for item in batch { item.waiter.resume(throwing: error) }
            }
        }
    }

    /// One report by its own method.
    private static func single(_ report: JobReport, via client: RPCClient) async throws -> ReportResult {
        if let p = report.complete { return try await client.call(CompleteJob.self, p) }
        if let p = report.fail { return try await client.call(FailJob.self, p) }
        if let p = report.skip { return try await client.call(SkipJob.self, p) }
        throw RPCError(.internalError, "an empty report")
    }

    /// An upper bound of a report's JSON: the fixed fields, plus the free-form ones.
    private static func cost(_ r: JobReport) -> Int {
        let call = r.complete?.call ?? r.fail?.call
        return 1024 + (call?.detail?.jsonByteCount ?? 0) + (r.fail?.error.utf8.count ?? 0) * 6
            + (r.skip?.reason.utf8.count ?? 0) * 6
    }
}
