import CampaignCore
import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

/// Two campaigns at once with real agents on two coordinators (issue 13): each campaign's cap and
/// concurrency exact under the provider's, a paused campaign silent until resumed, an ended one
/// never dialed, and a retry that comes due after its window closed called at the next opening.
@Suite("Campaigns end to end", .serialized)
struct CampaignsEndToEndTests {
    /// Writes `refs` one per line to a file of the scene; answers its path.
    static func refsFile(_ scene: Scene, _ name: String, _ refs: [String]) throws -> String {
        let path = scene.dir.appendingPathComponent(name).path
        try (refs.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func capsConcurrencyPauseAndEndHoldWithTwoCampaignsOnTwoCoordinators() async throws {
        let scene = try await Scene("campaigns")
        scene.try_coordinator("c1")
        try await scene.waitForSocket("c1")
        // The provider: 4 calls at once for everyone.
        let set = try await scene.ctl(
            ["automation", "set"] + AutomationSettings.wideOpenCtlArguments + ["maxConcurrentCalls=4", "callsPerSecond=200"],
            coordinator: "c1")
        #expect(set.status == 0, "\(set.stderr)")
        let tomorrow = LocalTime(Date().addingTimeInterval(86_400), TimeZone(identifier: "America/Los_Angeles")!).date
        let reminders = try await scene.ctl(
            ["campaigns", "create", "reminders", "--priority", "10", "dailyCap=20", "maxConcurrentCalls=2",
             "blackoutDates=\(tomorrow)"], coordinator: "c1")
        #expect(reminders.status == 0, "\(reminders.stderr)")
        let collections = try await scene.ctl(
            ["campaigns", "create", "collections", "--priority", "30", "--paused", "maxConcurrentCalls=3",
             #"windows=[{"days":[1,2,3,4,5,6,7],"start":"00:00","end":"24:00"}]"#], coordinator: "c1")
        #expect(collections.status == 0, "\(collections.stderr)")
        scene.try_coordinator("c2")
        try await scene.waitForSocket("c2")

        let files = try scene.writeCustomers(80)
        _ = try await scene.ctl(["customers", "import", files.csv], coordinator: "c1")
        let remRefs = try Self.refsFile(scene, "rem.txt", (0..<40).map { "e2e-\($0)" })
        let colRefs = try Self.refsFile(scene, "col.txt", (40..<80).map { "e2e-\($0)" })
        // Enqueued through the other coordinator, which learns of the campaigns from the database.
        for (campaign, refs) in [("reminders", remRefs), ("collections", colRefs)] {
            let r = try await scene.ctl(
                ["jobs", "enqueue", "--campaign", campaign, "--file", refs, "--idempotency-prefix", campaign], coordinator: "c2")
            #expect(r.stdout.contains("enqueued 40"), "\(campaign): \(r.stdout) \(r.stderr)")
        }
        for i in 1...4 {
            try scene.agent(
                "camp\(i)", coordinator: i % 2 == 0 ? "c1" : "c2",
                arguments: ["--capacity", "4", "--sim-duration-ms", "40-120", "--seed", String(i), "--sim-outcomes", "ANSWERED=1",
                            "--sim-dial-log", scene.dialLog])
        }

        /// The most calls in progress seen, per campaign and in all, while `until` is false.
        func watch(within: Duration, until done: () throws -> Bool) async throws -> (rem: Int, col: Int, all: Int) {
            var most = (rem: 0, col: 0, all: 0)
            let deadline = ContinuousClock.now + within
            while ContinuousClock.now < deadline {
                let row = try scene.db.connect().query(unsafeSQL: """
                    SELECT count(*) FILTER (WHERE k.name = 'reminders') AS rem,
                           count(*) FILTER (WHERE k.name = 'collections') AS col, count(*) AS n
                    FROM campaign.campaign_jobs j JOIN campaign.campaigns k ON k.id = j.campaign_id
                    WHERE j.phase = 'DIALING'
                    """).row(0)
                most = (max(most.rem, try row.int("rem")), max(most.col, try row.int("col")), max(most.all, try row.int("n")))
                if try done() { return most }
                try await Task.sleep(for: .milliseconds(5))
            }
            Issue.record("did not get there in time:\n\(scene.logs())")
            return most
        }
        let callsOf = { (campaign: String) throws -> Int in
            Int(try scene.db.scalar("""
                SELECT count(*) FROM campaign.call_logs l JOIN campaign.campaign_jobs j ON j.id = l.job_id
                JOIN campaign.campaigns k ON k.id = j.campaign_id WHERE k.name = '\(campaign)'
                """) ?? "") ?? -1
        }

        // Paused collections: reminders call alone, up to their cap of 20, never more than 2 at once.
        let first = try await watch(within: .seconds(90)) { try callsOf("reminders") >= 20 }
        #expect(try callsOf("collections") == 0, "a paused campaign placed calls")
        #expect(first.rem <= 2 && first.rem >= 1, "reminders in progress at once: \(first.rem)")
        #expect(try await scene.eventually("""
            SELECT count(*) = 20 FROM campaign.campaign_jobs j JOIN campaign.campaigns k ON k.id = j.campaign_id
            WHERE k.name = 'reminders' AND j.status = 'QUEUED' AND j.result ->> 'reason' = 'daily_cap'
              AND j.attempts_made = 0 AND j.run_at > now() + interval '1 minute'
            """, within: .seconds(30)), "the 20 over the cap wait for the campaign's next day:\n\(scene.logs())")
        #expect(try callsOf("reminders") == 20, "the cap is exact")

        // Resumed: collections drain, never more than 3 at once, the provider's 4 for all.
        let resumed = try await scene.ctl(["campaigns", "resume", "collections"], coordinator: "c2")
        #expect(resumed.status == 0 && resumed.stdout.contains("ACTIVE"), "\(resumed.stdout) \(resumed.stderr)")
        let second = try await watch(within: .seconds(90)) {
            try scene.db.scalar("""
                SELECT count(*) = 40 FROM campaign.campaign_jobs j JOIN campaign.campaigns k ON k.id = j.campaign_id
                WHERE k.name = 'collections' AND j.status = 'COMPLETED'
                """) == "t"
        }
        #expect(second.col <= 3 && second.col >= 2, "collections in progress at once: \(second.col)")
        #expect(second.all <= 4, "calls in progress at once: \(second.all)")

        // Ended: the 20 reminders waiting for tomorrow are skipped, and never dialed.
        let ended = try await scene.ctl(["campaigns", "end", "reminders"], coordinator: "c1")
        #expect(ended.stdout.contains("20 queued job(s) skipped"), "\(ended.stdout) \(ended.stderr)")
        #expect(try scene.db.scalar("""
            SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'SKIPPED' AND result ->> 'reason' = 'campaign_ended'
            """) == "20")
        let dials = scene.dials()
        #expect(dials.keys.filter { $0.hasPrefix("reminders:") }.count == 20 && dials.values.allSatisfy { $0 == 1 })
        #expect(dials.keys.filter { $0.hasPrefix("collections:") }.count == 40)
        let enqueue = try await scene.ctl(["jobs", "enqueue", "--campaign", "reminders", "e2e-1"], coordinator: "c2")
        #expect(enqueue.status != 0 && enqueue.stderr.contains("campaign reminders has ended"), "\(enqueue.stderr)")
        let health = try await scene.ctl(["health"], coordinator: "c1")
        #expect(health.stdout.contains("collections") && !health.stdout.contains("reminders"), "\(health.stdout)")
        print("campaigns: reminders at most \(first.rem) at once, collections \(second.col), all \(max(first.all, second.all))")
        _ = await scene.tearDown()
    }

    /// Windows a minute wide on the customers' clock: a call that gets no answer in the first
    /// window is retried at the opening of the second (`nextWindow`), not in between, and a job
    /// enqueued between the windows waits for the second; the outcome's one retry spent, the job
    /// fails for good.
    @Test func aRetryDueAfterTheWindowClosedIsCalledAtTheNextOpening() async throws {
        let la = TimeZone(identifier: "America/Los_Angeles")!
        // Start at a minute boundary with most of the minute ahead, a few minutes before midnight at the latest.
        var now = Date()
        if LocalTime(now, la).secondOfDay % 60 > 40 { try await Task.sleep(for: .seconds(61 - LocalTime(now, la).secondOfDay % 60)) }
        now = Date()
        // Three minutes of windows must fit before midnight in Los Angeles: else wait for the new day.
        if LocalTime(now, la).secondOfDay / 60 + 3 >= 24 * 60 { try await Task.sleep(for: .seconds(4 * 60 + 1)) }
        now = Date()
        let minute = LocalTime(now, la).secondOfDay / 60
        func hhmm(_ m: Int) -> String { String(format: "%02d:%02d", m / 60, m % 60) }
        let windows = #"[{"days":[1,2,3,4,5,6,7],"start":"\#(hhmm(minute))","end":"\#(hhmm(minute + 1))"},"#
            + #"{"days":[1,2,3,4,5,6,7],"start":"\#(hhmm(minute + 2))","end":"\#(hhmm(minute + 3))"}]"#
        let secondOpens = LocalTime.instant(localSeconds: LocalTime(now, la).day * 86_400 + Int64((minute + 2) * 60), in: la)
        let firstCloses = secondOpens.addingTimeInterval(-60)

        let scene = try await Scene("campaignwindows")
        scene.try_coordinator("c1")
        try await scene.waitForSocket("c1")
        _ = try await scene.ctl(["automation", "set"] + AutomationSettings.wideOpenCtlArguments, coordinator: "c1")
        let made = try await scene.ctl(
            ["campaigns", "create", "later", "maxAttempts=3", "windows=\(windows)",
             #"retry={"NO_ANSWER":{"delays":["nextWindow"]}}"#], coordinator: "c1")
        #expect(made.status == 0, "\(made.stderr)")
        let files = try scene.writeCustomers(5)
        // Imported as the campaign's members (the file's broken row is not one).
        let imported = try await scene.ctl(["customers", "import", files.csv, "--campaign", "later"], coordinator: "c1")
        #expect(imported.stdout.contains("campaign later has 5 members"), "\(imported.stdout) \(imported.stderr)")
        _ = try await scene.ctl(
            ["jobs", "enqueue", "--campaign", "later", "--idempotency-prefix", "in", "e2e-0", "e2e-1", "e2e-2"], coordinator: "c1")
        try scene.agent(
            "win", coordinator: "c1",
            arguments: ["--capacity", "4", "--sim-duration-ms", "20-50", "--sim-outcomes", "NO_ANSWER=1", "--sim-dial-log", scene.dialLog])
        // The first window: each is called once, gets no answer, and waits for the second window.
        #expect(try await scene.eventually(
            "SELECT count(*) = 3 FROM campaign.campaign_jobs WHERE status = 'QUEUED' AND attempts_made = 1",
            within: .seconds(50)), "not retried as planned:\n\(scene.logs())")
        #expect(try scene.db.scalar(
            "SELECT count(DISTINCT run_at) = 1 AND min(run_at) = to_timestamp(\(secondOpens.timeIntervalSince1970)) FROM campaign.campaign_jobs")
            == "t", "due at the second window's opening")
        // Between the windows: a new job waits for the second window (deferred, not skipped).
        while Date() < firstCloses.addingTimeInterval(2) { try await Task.sleep(for: .milliseconds(200)) }
        _ = try await scene.ctl(
            ["jobs", "enqueue", "--campaign", "later", "--idempotency-prefix", "between", "e2e-3"], coordinator: "c1")
        // The second window: every job called again, then FAILED for good (NO_ANSWER has one
        // retry); the job enqueued between the windows gets its first call, and waits again.
        #expect(try await scene.eventually(
            """
            SELECT count(*) FILTER (WHERE status = 'FAILED' AND attempts_made = 2) = 3
               AND count(*) FILTER (WHERE queue_job_id = 'between:e2e-3' AND status = 'QUEUED' AND attempts_made = 1) = 1
            FROM campaign.campaign_jobs
            """, within: .seconds(150)), "not done:\n\(scene.logs())")
        // No call between the windows; the retries in the second window.
        let between = try scene.db.scalar("""
            SELECT count(*) FROM campaign.call_logs
            WHERE created_at >= to_timestamp(\(firstCloses.timeIntervalSince1970)) AND created_at < to_timestamp(\(secondOpens.timeIntervalSince1970))
            """)
        #expect(between == "0", "calls between the windows")
        #expect(try scene.db.scalar("""
            SELECT count(*) FROM campaign.call_logs l JOIN campaign.campaign_jobs j ON j.id = l.job_id
            WHERE ((l.attempt = 2 AND j.queue_job_id LIKE 'in:%') OR j.queue_job_id = 'between:e2e-3')
              AND l.created_at >= to_timestamp(\(secondOpens.timeIntervalSince1970))
              AND l.created_at < to_timestamp(\(secondOpens.timeIntervalSince1970 + 60))
            """) == "4", "the three retries and the new job's call in the second window")
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.call_logs") == "7")
        _ = await scene.tearDown()
    }
}
