import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

/// The provider's limits hold across all agents and coordinators: never more calls in progress
/// than `maxConcurrentCalls`, never more call starts in a second than `callsPerSecond`.
@Suite("Provider limits", .serialized)
struct ProviderLimitsTests {
    @Test func concurrencyAndRateHoldWithManyAgentsOnTwoCoordinators() async throws {
        let scene = try await Scene("limits")
        scene.try_coordinator("c1")
        try await scene.waitForSocket("c1")
        let set = try await scene.ctl(
            ["automation", "set", "retryBaseMs=50", "retryCapMs=200"] + AutomationSettings.wideOpenCtlArguments
                + ["maxConcurrentCalls=4", "callsPerSecond=20"],
            coordinator: "c1")
        #expect(set.status == 0, "\(set.stderr)")
        scene.try_coordinator("c2")
        try await scene.waitForSocket("c2")
        for i in 1...6 {
            try scene.agent("lim\(i)", coordinator: i % 2 == 0 ? "c1" : "c2", capacity: 8, durationMs: "30-120")
        }
        let files = try scene.writeCustomers(150)
        _ = try await scene.ctl(["customers", "import", files.csv], coordinator: "c1")
        _ = try await scene.ctl(["jobs", "enqueue", "--file", files.refs], coordinator: "c2")

        // Watch the calls in progress while the queue drains.
        var maxDialing = 0
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            let row = try scene.db.connect().query(unsafeSQL: """
                SELECT (SELECT count(*) FROM campaign.campaign_jobs WHERE phase = 'DIALING') AS dialing,
                       (SELECT count(*) FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE')) AS open
                """).row(0)
            maxDialing = max(maxDialing, try row.int("dialing"))
            if try row.int("open") == 0 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try scene.db.scalar("SELECT count(*) = 0 FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE')") == "t",
                "not drained:\n\(scene.logs())")
        #expect(maxDialing <= 4, "saw \(maxDialing) calls in progress")
        #expect(maxDialing >= 2, "the limit was never approached (\(maxDialing)): the test would prove nothing")
        // No one-second window holds more than 20 call starts (by the database clock the
        // coordinators admit them at): any ten consecutive 100 ms counters.
        let worst = try scene.db.scalar("""
            SELECT coalesce(max(s), 0) FROM (
                SELECT sum(n) OVER (ORDER BY bucket RANGE BETWEEN interval '900 milliseconds' PRECEDING AND CURRENT ROW) AS s
                FROM campaign.dial_counts_tick) w
            """)
        #expect(try scene.db.scalar("SELECT sum(n) = (SELECT count(*) FROM campaign.call_logs) FROM campaign.dial_counts_tick") == "t",
                "every call start is counted")
        #expect(Int(worst ?? "99")! <= 20, "\(worst ?? "?") call starts within one second")
        // Everyone was called: limits make agents wait, they do not fail jobs.
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.campaign_jobs WHERE result ->> 'reason' IN ('lease_expired', 'outcome_unknown')") == "0")
        print("limits: max calls in progress \(maxDialing), max starts in a second \(worst ?? "?"), dials \(scene.dials().count)")
        _ = await scene.tearDown()
    }
}
