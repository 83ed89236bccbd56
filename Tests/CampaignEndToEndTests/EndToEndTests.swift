import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real binaries as processes, talking over the real socket, with the rows checked in PostgreSQL.
@Suite("End to end", .serialized)
struct EndToEndTests {
    @Test func campaignRunsEndToEndAndEveryRowAddsUp() async throws {
        let scene = try await Scene("e2e")
        scene.try_coordinator()
        try await scene.waitForSocket()
        try scene.agent("agent-a")
        try scene.agent("agent-b")

        let set = try await scene.ctl(["automation", "set", "retryBaseMs=50", "retryCapMs=200", "maxAttempts=3"] + AutomationSettings.wideOpenCtlArguments)
        #expect(set.status == 0, "\(set.stderr)")
        let files = try scene.writeCustomers(200)
        let imported = try await scene.ctl(["customers", "import", files.csv])
        // The broken row is reported with its row number; the rest is imported; the exit status says so.
        #expect(imported.stdout.contains("200 new"), "\(imported.stdout) \(imported.stderr)")
        #expect(imported.stderr.contains("row 202"), "\(imported.stderr)")
        // JSON Lines too; a bad line is reported by number and the others still land.
        let jsonl = scene.dir.appendingPathComponent("more.jsonl").path
        try """
            {"externalRef":"j-1","phone":"+33 1 23 45 67 89","timezone":"Europe/Paris","attributes":{"tier":2}}
            {"externalRef":"j-2","phone":12345}
            {"externalRef":"j-3","phone":"+81312345678","timezone":"Asia/Tokyo","status":"DO_NOT_CALL"}
            """.write(toFile: jsonl, atomically: true, encoding: .utf8)
        let importedJSONL = try await scene.ctl(["customers", "import", jsonl])
        #expect(importedJSONL.stdout.contains("2 new") && importedJSONL.stderr.contains("row 2"), "\(importedJSONL)")
        #expect(try scene.db.scalar("SELECT phone || ' ' || status FROM campaign.customers WHERE external_ref = 'j-1'") == "+33123456789 ACTIVE")

        let enqueued = try await scene.ctl(["jobs", "enqueue", "--file", files.refs, "--reason", "e2e"])
        #expect(enqueued.status == 0 && enqueued.stdout.contains("enqueued 200"), "\(enqueued.stdout) \(enqueued.stderr)")

        let drained = try await scene.eventually(
            "SELECT count(*) = 200 FROM campaign.campaign_jobs WHERE status IN ('COMPLETED', 'FAILED', 'SKIPPED')",
            within: .seconds(120))
        #expect(drained, "jobs did not all finish:\n\(scene.logs())")

        // Every completed job has the call log of its last attempt, with the same outcome.
        #expect(try scene.db.scalar("""
            SELECT count(*) = 0 FROM campaign.campaign_jobs j
            WHERE j.status = 'COMPLETED' AND NOT EXISTS (
                SELECT 1 FROM campaign.call_logs c
                WHERE c.job_id = j.id AND c.attempt = j.attempts_made AND c.outcome = j.result ->> 'outcome')
            """) == "t")
        // No call log for an attempt that never started; keys follow <queueJobId>#<attempt>.
        #expect(try scene.db.scalar("""
            SELECT count(*) = 0 FROM campaign.call_logs c JOIN campaign.campaign_jobs j ON j.id = c.job_id
            WHERE c.attempt > j.attempts_made OR c.idempotency_key <> j.queue_job_id || '#' || c.attempt
            """) == "t")
        // Retryable outcomes were retried: a failed job either used all attempts or failed for good.
        #expect(try scene.db.scalar("""
            SELECT count(*) = 0 FROM campaign.campaign_jobs
            WHERE status = 'FAILED' AND attempts_made < max_attempts AND result ->> 'outcome' IN ('NO_ANSWER', 'BUSY', 'FAILED')
            """) == "t")
        #expect(try scene.db.scalar("SELECT count(*) > 0 FROM campaign.call_logs WHERE agent = 'agent-a'") == "t")
        #expect(try scene.db.scalar("SELECT attributes ->> 'segment' FROM campaign.customers WHERE external_ref = 'e2e-0'") == "gold")

        let tally = try await scene.ctl(["jobs", "tally", "--json"])
        #expect(tally.status == 0 && tally.stdout.contains("\"COMPLETED\""))

        // Errors: non-zero exit, the message on stderr.
        let missing = try await scene.ctl(["jobs", "get", "99999999"])
        #expect(missing.status != 0 && missing.stderr.contains("NOT_FOUND"))

        // No phone number reaches any log (customers' numbers are +1 415 2xx-xxxx here).
        for p in scene.processes {
            #expect(!p.log().contains("+1415") && !p.log().contains("415)"), "a phone number in \(p.name)'s log")
        }
        let statuses = await scene.tearDown()
        // SIGTERM is a clean stop for every daemon.
        #expect(statuses.values.allSatisfy { $0 == 0 }, "\(statuses)")
    }

    @Test func agentWaitsForTheCoordinatorAndSurvivesItsRestartAndAKilledPeer() async throws {
        let scene = try await Scene("e2erestart")
        // Agents first: they must retry the connection, not exit.
        let a = try scene.agent("early-a")
        try scene.agent("early-b")
        try await Task.sleep(for: .milliseconds(500))
        #expect(a.isRunning)
        let coordinator = try scene.coordinator()
        try await scene.waitForSocket()
        _ = try await scene.ctl(["automation", "set", "leaseSeconds=5", "retryBaseMs=50", "retryCapMs=100"] + AutomationSettings.wideOpenCtlArguments)
        let files = try scene.writeCustomers(100)
        _ = try await scene.ctl(["customers", "import", files.csv])
        _ = try await scene.ctl(["jobs", "enqueue", "--file", files.refs])

        // Kill one agent hard in the middle of its work, then restart the coordinator.
        try await Task.sleep(for: .milliseconds(300))
        a.signal(SIGKILL)
        _ = await a.waitExit(timeout: .seconds(5))
        #expect(await coordinator.stop() == 0)
        scene.try_coordinator()
        try await scene.waitForSocket()
        try scene.agent("early-a")

        let drained = try await scene.eventually(
            "SELECT count(*) = 100 FROM campaign.campaign_jobs WHERE status IN ('COMPLETED', 'FAILED', 'SKIPPED')",
            within: .seconds(120))
        #expect(drained, "jobs did not all finish:\n\(scene.logs())")
        // At most one call per (job, attempt) — a constraint — and no attempt dialed twice.
        #expect(try scene.db.scalar("SELECT count(*) = count(DISTINCT idempotency_key) FROM campaign.call_logs") == "t")
        _ = await scene.tearDown()
    }

    @Test func ctlFailsClearlyWithoutACoordinator() async throws {
        let r = try await runToCompletion("campaign-ctl", ["health"], environment: ["CAMPAIGN_SOCKET": "/nonexistent/c.sock"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("cannot connect"))
    }
}

