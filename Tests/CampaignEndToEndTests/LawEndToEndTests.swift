import CampaignProtocol
import CampaignTestSupport
import Foundation
import Testing

/// Calling within the law (issue 15), with real agents placing calls through an exec command,
/// on two coordinators: a campaign window of 07:00–22:00 never dials a Florida number outside
/// 08:00–20:00 on the customer's clock; a number shared by two customers in two campaigns gets
/// at most 3 calls whatever the retries; an opt-out reported on a call stops every other job of
/// the number before its next dial; and `customers why` says what the check did.
@Suite("The law end to end", .serialized)
struct LawEndToEndTests {
    /// The Etc/GMT zones of every whole-hour offset: whatever the hour the test runs at, some
    /// customers' clocks are inside the law's hours, some in the campaign's window but outside the
    /// law's (07:00–08:00, 20:00–22:00), some outside both.
    static let zones: [String] = (-12...14).map { offset in
        offset == 0 ? "Etc/GMT" : offset > 0 ? "Etc/GMT-\(offset)" : "Etc/GMT+\(-offset)"
    }

    /// A zone whose clock reads about noon now.
    static var noonZone: String {
        let hour = Int(Date().timeIntervalSince1970 / 3600) % 24
        let offset = 12 - hour
        return offset == 0 ? "Etc/GMT" : offset > 0 ? "Etc/GMT-\(offset)" : "Etc/GMT+\(-offset)"
    }

    @Test func floridaHoursNumberCapsAndOptOutsHoldWithRealAgentsOnTwoCoordinators() async throws {
        let scene = try await Scene("law")
        scene.try_coordinator("c1")
        try await scene.waitForSocket("c1")
        let windows = #"windows=[{"days":[1,2,3,4,5,6,7],"start":"07:00","end":"22:00"}]"#
        let set = try await scene.ctl(
            ["automation", "set"] + AutomationSettings.wideOpenCtlArguments
                + [windows, "retryBaseMs=50", "retryCapMs=100", "maxAttempts=10"],
            coordinator: "c1")
        #expect(set.status == 0, "\(set.stderr)")
        let created = try await scene.ctl(["campaigns", "create", "second"], coordinator: "c1")
        #expect(created.status == 0, "\(created.stderr)")
        scene.try_coordinator("c2")
        try await scene.waitForSocket("c2")

        // Florida numbers (305) on every clock; two customers of one Florida number; three of a
        // UK number whose first call opts out.
        var csv = "external_ref,phone,timezone,region\n"
        for (i, zone) in Self.zones.enumerated() { csv += "fl-\(i),+1305555\(String(format: "%04d", 100 + i)),\(zone),\n" }
        csv += "s1,+13055550999,\(Self.noonZone),\ns2,+13055550999,\(Self.noonZone),US-FL\n"
        csv += "o1,+442079460555,\(Self.noonZone),\no2,+442079460555,\(Self.noonZone),\no3,+442079460555,\(Self.noonZone),\n"
        let csvPath = scene.dir.appendingPathComponent("law.csv").path
        try csv.write(toFile: csvPath, atomically: true, encoding: .utf8)
        let imported = try await scene.ctl(["customers", "import", csvPath], coordinator: "c2")
        #expect(imported.status == 0 && imported.stdout.contains("32 new"), "\(imported.stdout) \(imported.stderr)")
        func refs(_ name: String, _ lines: [String]) throws -> String {
            let path = scene.dir.appendingPathComponent(name).path
            try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let defaultRefs = try refs("default.txt", Self.zones.indices.map { "fl-\($0)" } + ["s1", "s1", "o1", "o2", "o3"])
        _ = try await scene.ctl(["jobs", "enqueue", "--file", defaultRefs], coordinator: "c1")
        _ = try await scene.ctl(["jobs", "enqueue", "--campaign", "second", "--file", try refs("second.txt", ["s2", "s2"])], coordinator: "c2")
        // The opt-out's call comes first; the number's other jobs are due a few seconds later.
        _ = try scene.db.connect().query(unsafeSQL: """
            UPDATE campaign.campaign_jobs j SET run_at = now() + interval '4 seconds'
            FROM campaign.customers c WHERE c.id = j.customer_id AND c.external_ref IN ('o2', 'o3')
            """)

        // The placer: the UK number's person opts out; the shared Florida number never answers
        // (every failure is retried); everyone else answers.
        let script = scene.dir.appendingPathComponent("place.sh").path
        try """
            #!/bin/sh
            body=$(cat)
            case "$body" in
              *+442079460555*) echo '{"outcome":"ANSWERED","optOut":true}' ;;
              *+13055550999*) echo '{"outcome":"NO_ANSWER"}' ;;
              *) echo '{"outcome":"ANSWERED"}' ;;
            esac
            """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        for i in 1...4 {
            try scene.agent(
                "law\(i)", coordinator: i % 2 == 0 ? "c1" : "c2",
                arguments: ["--capacity", "4", "--placer", "exec", "--exec-command", script])
        }

        // Settled: nothing due any more (what is left waits for the law, a cap or the window).
        let settled = try await scene.eventually(
            """
            SELECT count(*) = 0 FROM campaign.campaign_jobs
            WHERE status = 'ACTIVE' OR (status = 'QUEUED' AND run_at <= now())
            """, within: .seconds(60))
        #expect(settled, "jobs still due:\n\(scene.logs())")
        try await Task.sleep(for: .seconds(1))

        // Florida: every call within 08:00–20:00 on the customer's clock; some customers in the
        // campaign's window but outside the law's were not called, some inside were.
        let outside = try scene.db.scalar("""
            SELECT count(*) FROM campaign.call_logs l JOIN campaign.customers c ON c.id = l.customer_id
            WHERE c.phone LIKE '+1305555%' AND NOT ((l.started_at AT TIME ZONE c.timezone)::time >= '08:00'
                                                  AND (l.started_at AT TIME ZONE c.timezone)::time < '20:00')
            """)
        #expect(outside == "0", "calls to Florida numbers outside 08:00–20:00 local")
        let heldByLaw = try scene.db.scalar("""
            SELECT count(*) FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
            WHERE c.external_ref LIKE 'fl-%' AND j.status = 'QUEUED' AND j.result ->> 'reason' = 'jurisdiction_hours'
            """)
        let called = try scene.db.scalar("""
            SELECT count(DISTINCT l.customer_id) FROM campaign.call_logs l JOIN campaign.customers c ON c.id = l.customer_id
            WHERE c.external_ref LIKE 'fl-%'
            """)
        #expect(Int(heldByLaw ?? "0")! >= 2 && Int(called ?? "0")! >= 8, "held by the law \(heldByLaw ?? "?"), called \(called ?? "?")")

        // The shared number: three calls, whatever the retries and the campaigns.
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.call_logs l JOIN campaign.customers c ON c.id = l.customer_id WHERE c.phone = '+13055550999'") == "3")
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.number_calls WHERE phone = '+13055550999'") == "3")
        #expect(try scene.db.scalar("""
            SELECT count(*) > 0 FROM campaign.dial_refusals WHERE phone = '+13055550999' AND rule = 'number_frequency'
            """) == "t")

        // The opt-out: one call; the other two jobs skipped before they were due; all three
        // customers opted out; the number suppressed by the agent.
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.call_logs l JOIN campaign.customers c ON c.id = l.customer_id WHERE c.phone = '+442079460555'") == "1")
        #expect(try scene.db.scalar("""
            SELECT string_agg(c.external_ref || ':' || j.status || ':' || coalesce(j.result ->> 'reason', j.result ->> 'outcome'), ' ' ORDER BY c.external_ref)
            FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id WHERE c.phone = '+442079460555'
            """) == "o1:COMPLETED:ANSWERED o2:SKIPPED:opted_out o3:SKIPPED:opted_out")
        #expect(try scene.db.scalar("SELECT count(*) FROM campaign.customers WHERE phone = '+442079460555' AND status = 'OPTED_OUT'") == "3")
        let listed = try await scene.ctl(["--json", "suppressions", "list", "--phone", "+442079460555"], coordinator: "c1")
        #expect(listed.stdout.contains("agent:law"), "\(listed.stdout)")

        // What `customers why` says agrees with what the check did, judged at the instant it did.
        let decisions = try scene.db.connect().query(unsafeSQL: """
            SELECT c.external_ref, 'allowed' AS dial, campaign.ts(min(l.started_at)) AS at
            FROM campaign.call_logs l JOIN campaign.customers c ON c.id = l.customer_id
            WHERE c.external_ref LIKE 'fl-%' GROUP BY c.external_ref
            UNION ALL
            SELECT c.external_ref, 'deferred', campaign.ts(min(r.at))
            FROM campaign.dial_refusals r JOIN campaign.customers c ON c.id = r.customer_id
            WHERE c.external_ref LIKE 'fl-%' AND r.rule = 'jurisdiction_hours' GROUP BY c.external_ref
            """).all.map { (try $0.string("external_ref"), try $0.string("dial"), try $0.string("at")) }
        #expect(decisions.count >= 10)
        for (ref, dial, at) in decisions {
            let why = try await scene.ctl(["--json", "customers", "why", ref, "--at", at], coordinator: "c2")
            let r = try JSONDecoder().decode(ExplainCustomer.Result.self, from: Data(why.stdout.utf8))
            #expect(r.dial == dial, "\(ref) at \(at): the check said \(dial), why says \(r.dial) \(r.dialRule ?? "")")
            #expect(r.jurisdiction == ["US", "US-FL"])
            if dial == "deferred" { #expect(r.dialRule == "jurisdiction_hours") }
        }
        _ = await scene.tearDown()
    }
}
