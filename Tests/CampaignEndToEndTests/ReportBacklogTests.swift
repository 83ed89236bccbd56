import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

/// A call's slot frees when the call ends, not when the coordinator has stored its report
/// (issue 11): while reports cannot be stored (here: `call_logs` locked, so every report
/// transaction waits), an agent of capacity 2 and report backlog 3 that leases with the
/// pre-dial check goes on to place exactly 2 + 3 calls and then leases nothing more. One that
/// asks `jobs.dialing` before each call leases 4 or 5 jobs but places fewer calls: the
/// coordinator checks dialing requests in the same batch transactions as reports (two at a
/// time), so a check passes only in a batch without a report, and once both writers wait on the
/// lock the claimed jobs wait with them. Either way never more than capacity + backlog. Once the
/// lock goes, every report lands and every job is called once. An agent that held the slot
/// until the report's answer would stop at 2 leases.
@Suite("Report backlog", .serialized)
struct ReportBacklogTests {
    @Test(arguments: [true, false])
    func endedCallsFreeTheirSlotsWhileReportsWaitUpToTheBacklog(leaseDial: Bool) async throws {
        let jobs = 20
        let scene = try await Scene(leaseDial ? "backlog-dial" : "backlog-ask")
        try await scene.startWithJobs(jobs)

        // Reports insert their call logs: with the table locked in SHARE mode they all wait.
        let blocker = try scene.db.connect()
        _ = try blocker.exec(unsafeSQL: "BEGIN")
        _ = try blocker.exec(unsafeSQL: "LOCK TABLE campaign.call_logs IN SHARE MODE")
        try scene.agent(
            "backlog", arguments: [
                "--capacity", "2", "--report-backlog", "3", "--sim-duration-ms", "100-200", "--sim-outcomes", "ANSWERED=1",
                "--seed", "5", "--sim-dial-log", scene.dialLog, leaseDial ? "--lease-dial" : "--no-lease-dial",
            ])
        // One connection for the polls below (a connection per poll is a blocking connect on the
        // test's cooperative thread, 20 times a second, while the rest of the suite runs beside it).
        let reader = try scene.db.connect()
        let active = "SELECT count(*)::int FROM campaign.campaign_jobs WHERE status = 'ACTIVE'"
        func leased() throws -> Int { Int(try reader.query(unsafeSQL: active)[0, 0] ?? "") ?? -1 }
        // Lease with dial: exactly 5 calls and 5 leases. Asking: 4 or 5 leases, 2 to 5 calls.
        let settled = { (calls: Int, leased: Int) -> Bool in
            leaseDial ? calls == 5 && leased == 5 : (4...5).contains(leased) && (2...5).contains(calls)
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while try !settled(scene.dials().count, leased()), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        // Full: the agent leases nothing more (its unsettled jobs stay leased), and calls no more.
        try await Task.sleep(for: .seconds(2))
        let (calls, held) = (scene.dials().count, try leased())
        #expect(settled(calls, held), "while no report could be stored: \(calls) calls, \(held) jobs leased\n\(scene.logs())")
        try await Task.sleep(for: .seconds(1))
        let (callsLater, heldLater) = (scene.dials().count, try leased())
        #expect(callsLater == calls && heldLater == held, "the agent went on past its report backlog")

        _ = try blocker.exec(unsafeSQL: "COMMIT")
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
