import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

/// A call's slot frees when the call ends, not when the coordinator has stored its report
/// (issue 11): while reports cannot be stored (here: `call_logs` locked, so every report
/// transaction waits), an agent of capacity 2 and report backlog 3 that leases with the
/// pre-dial check goes on to place exactly 2 + 3 calls and then leases nothing more. One that
/// asks `jobs.dialing` before each call leases 2 more jobs after its first 2 calls, but cannot
/// call them: the coordinator checks dialing requests in the same batch transactions as
/// reports, which wait on the lock too. Once the lock goes, every report lands and every job is
/// called once. An agent that held the slot until the report's answer would stop at 2 leases.
@Suite("Report backlog", .serialized)
struct ReportBacklogTests {
    @Test(arguments: [true, false])
    func endedCallsFreeTheirSlotsWhileReportsWaitUpToTheBacklog(leaseDial: Bool) async throws {
        let jobs = 20
        let scene = try await Scene(leaseDial ? "backlog-dial" : "backlog-ask")
        scene.try_coordinator()
        try await scene.waitForSocket()
        let set = try await scene.ctl(["automation", "set"] + AutomationSettings.wideOpenCtlArguments)
        #expect(set.status == 0, "\(set.stderr)")
        let files = try scene.writeCustomers(jobs)
        _ = try await scene.ctl(["customers", "import", files.csv])
        let enqueued = try await scene.ctl(["jobs", "enqueue", "--file", files.refs])
        #expect(enqueued.stdout.contains("enqueued \(jobs)"), "\(enqueued.stdout) \(enqueued.stderr)")

        // Reports insert their call logs: with the table locked in SHARE mode they all wait.
        let blocker = try scene.db.connect()
        _ = try blocker.exec("BEGIN")
        _ = try blocker.exec("LOCK TABLE campaign.call_logs IN SHARE MODE")
        try scene.agent(
            "backlog", arguments: [
                "--capacity", "2", "--report-backlog", "3", "--sim-duration-ms", "100-200", "--sim-outcomes", "ANSWERED=1",
                "--seed", "5", "--sim-dial-log", scene.dialLog, leaseDial ? "--lease-dial" : "--no-lease-dial",
            ])
        let (calls, leased) = leaseDial ? (5, 5) : (2, 4)
        let active = "SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'ACTIVE'"
        let deadline = ContinuousClock.now + .seconds(30)
        while try scene.dials().count < calls || scene.db.scalar(active) != "\(leased)", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(scene.dials().count == calls, "calls placed while no report could be stored\n\(scene.logs())")
        #expect(try scene.db.scalar(active) == "\(leased)", "jobs leased while no report could be stored")
        // Full: the agent leases nothing more (its unsettled jobs stay leased), and calls no more.
        try await Task.sleep(for: .seconds(2))
        #expect(scene.dials().count == calls, "the agent went past its report backlog")
        #expect(try scene.db.scalar(active) == "\(leased)", "jobs leased past the backlog")

        _ = try blocker.exec("COMMIT")
        let drained = try await scene.eventually(
            "SELECT count(*) = \(jobs) FROM campaign.campaign_jobs WHERE status = 'COMPLETED'", within: .seconds(60))
        #expect(drained, "not drained:\n\(scene.logs())")
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE attempts_made <> 1") == "0")
        #expect(try scene.db.scalar("SELECT count(DISTINCT idempotency_key) FROM campaign.call_logs") == "\(jobs)")
        let dials = scene.dials()
        #expect(dials.count == jobs && dials.values.allSatisfy { $0 == 1 }, "\(dials.count) keys, max \(dials.values.max() ?? 0)")
        _ = await scene.tearDown()
    }
}
