import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

/// The dispatch path at full width (issue 11): an agent whose capacity (1000) is far above the
/// coordinator's in-flight limit per connection (128) queues its calls instead of being refused,
/// treats "ask again later" as just that, and so fails no job and places every call exactly once
/// — both when it leases with the pre-dial check (`dial: true`) and when it asks `jobs.dialing`
/// before each call.
@Suite("Dispatch path", .serialized)
struct DispatchPathTests {
    @Test(arguments: [true, false])
    func anAgentOfCapacity1000FailsNoJobAndCallsEachOnce(leaseDial: Bool) async throws {
        // Enough that hundreds of requests are in flight at once (over the 128 the server allows), few
        // enough not to load a 2-core machine while other suites run beside this one.
        let jobs = 400
        let scene = try await Scene(leaseDial ? "wide-dial" : "wide-ask")
        try await scene.startWithJobs(jobs)
        // Calls long enough that hundreds are in progress (and hundreds of requests in flight) at once.
        try scene.agent(
            "wide", arguments: [
                "--capacity", "1000", "--sim-duration-ms", "300-900", "--sim-outcomes", "ANSWERED=1", "--seed", "3",
                "--sim-dial-log", scene.dialLog, leaseDial ? "--lease-dial" : "--no-lease-dial",
            ])
        let drained = try await scene.eventually(
            "SELECT count(*) = \(jobs) FROM campaign.campaign_jobs WHERE status IN ('COMPLETED', 'FAILED', 'SKIPPED')",
            within: .seconds(180))
        #expect(drained, "not drained:\n\(scene.logs())")
        let byStatus = try scene.db.scalar(
            "SELECT string_agg(status || '/' || attempts_made || ':' || n, ' ') FROM (SELECT status, attempts_made, count(*) n FROM campaign.campaign_jobs GROUP BY 1, 2) x")
        #expect(byStatus == "COMPLETED/1:\(jobs)", "every job completed on its first attempt: \(byStatus ?? "?")\n\(scene.logs())")
        #expect(try scene.db.scalar("SELECT count(DISTINCT idempotency_key) FROM campaign.call_logs") == "\(jobs)")
        let dials = scene.dials()
        #expect(dials.count == jobs && dials.values.allSatisfy { $0 == 1 }, "\(dials.count) keys, max \(dials.values.max() ?? 0)")
        #expect(!scene.logs().contains("LIMIT_EXCEEDED"), "the agent's calls were refused:\n\(scene.logs())")
        _ = await scene.tearDown()
    }
}
