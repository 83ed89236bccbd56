import CampaignCore
import CampaignProtocol
import CampaignRPC
import Foundation
import Logging

// MARK: Reports: spooled, backlogged, delivered

extension AgentRunner {
    /// The report of a call that ended: spooled, then the call's slot is given back once the
    /// report has a place in the backlog (waiting for one while it is full), then delivered.
    func settle(_ report: Report, logger: JobLogger) async {
        self.save(report, logger: logger)
        await self.reportRoom.acquire()
        self.slots.release(1)
        if await self.deliver(report, logger: logger) { self.spool?.remove(report.jobId) }
        self.stats.withLockedValue { $0.pendingReports -= 1 }
        self.reportRoom.release()
    }

    /// Spools a call's report, delivers it, and forgets it once the coordinator settled it.
    func send(_ report: Report, logger: JobLogger) async {
        self.save(report, logger: logger)
        if await self.deliver(report, logger: logger) { self.spool?.remove(report.jobId) }
        self.stats.withLockedValue { $0.pendingReports -= 1 }
    }

    /// Spools the report (counted as pending until its delivery ends).
    func save(_ report: Report, logger: JobLogger) {
        self.stats.withLockedValue { $0.pendingReports += 1 }
        do {
            try self.spool?.save(report)
        } catch {
            logger.error("cannot spool the report; it lives in memory only", metadata: ["error": "\(error)"])
        }
    }

    enum Report: Sendable {
        case complete(CompleteJob.Params)
        case fail(FailJob.Params)

        var jobId: Int64 {
            switch self {
            case .complete(let p): return p.jobId
            case .fail(let p): return p.jobId
            }
        }

        var leaseToken: String {
            switch self {
            case .complete(let p): return p.leaseToken
            case .fail(let p): return p.leaseToken
            }
        }

        var wire: JobReport {
            switch self {
            case .complete(let p): return .complete(p)
            case .fail(let p): return .fail(p)
            }
        }
    }

    /// Sends a report until the coordinator has it, as ``ReportDeliveryPolicy`` decides: a refusal
    /// that retrying cannot cure (LEASE_LOST, INVALID_STATE, NOT_FOUND) drops it; connection
    /// trouble and retryable errors retry; an internal error is retried a few times (it may be a
    /// passing fault), then dropped. `patience` bounds the whole effort (nil: until delivered or
    /// shutdown). True when the coordinator settled the report (delivered, or refused for good).
    @discardableResult
    func deliver(_ report: Report, logger: JobLogger, patience: Duration? = nil) async -> Bool {
        var policy = ReportDeliveryPolicy(
            patience: patience, shutdownGrace: self.configuration.shutdownReportGrace, now: .now)
        while true {
            if let giveUp = policy.giveUp(now: .now, shutdownStarted: self.shutdownStarted.withLockedValue { $0 }) {
                self.stats.withLockedValue { $0.reportsDropped += 1 }
                switch giveUp {
                case .shutdownGraceOver:
                    logger.error(
                        self.spool == nil
                            ? "report not delivered before shutdown; the lease will expire as outcome_unknown"
                            : "report not delivered before shutdown; it stays in the spool for the next run")
                case .patienceRanOut:
                    logger.error("report not delivered in time; the lease will run out on its own")
                }
                return false
            }
            guard let client = await self.link.client(waitingUpTo: .seconds(1)) else { continue }
            do {
                let result = try await self.reports.send(report.wire, via: client)
                self.stats.withLockedValue { $0.reportsDelivered += 1 }
                logger.debug("reported", metadata: ["status": "\(result.status.rawValue)"])
                return true
            } catch {
                switch policy.sendFailed(error) {
                case .drop:
                    self.stats.withLockedValue { $0.reportsDropped += 1 }
                    logger.warning("report refused", metadata: ["error": "\(error)"])
                    return true
                case .retry(let pause, .internalError):
                    logger.warning("report hit an internal error, retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: pause)
                case .retry(let pause, .notDeliveredYet):
                    logger.warning("report not delivered yet, retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: pause)
                }
            }
        }
    }
}
