import CampaignCore
import CampaignProtocol
import Foundation
import Testing

@testable import campaign_ctl

/// campaign-ctl's own logic, without a coordinator: reading customer files, turning command-line
/// values into JSON, the tables and summaries it prints, and its command line.
@Suite("campaign-ctl")
struct CtlTests {
    /// A file with `text` in a fresh temporary directory.
    static func file(_ name: String, _ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ctl-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func csvColumnsByAnyOfTheirNamesAndTheRestAsAttributes() throws {
        let path = try Self.file("c.csv", """
            Ref,Phone-Number,TZ,name,status,plan,Region
            c-1,+14155550100,America/New_York,Ann,active,gold,US-FL
            c-2,+14155550101,Europe/Paris,,,,

            c-3,+14155550102,Asia/Kolkata,Raj,OPTED_OUT,,
            """)
        let parsed = try CustomerFile.csv(path)
        #expect(parsed.errors.isEmpty)
        #expect(parsed.rows.map(\.line) == [2, 3, 5], "row numbers count the header and the blank line")
        let first = parsed.rows[0].customer
        #expect(first.externalRef == "c-1" && first.phone == "+14155550100" && first.timezone == "America/New_York")
        #expect(first.name == "Ann" && first.status == .active)
        #expect(first.attributes == .object(["plan": .string("gold")]), "the region is a column of its own")
        #expect(first.region == "US-FL" && parsed.rows[1].customer.region == nil)
        #expect(parsed.rows[1].customer.attributes == nil && parsed.rows[1].customer.status == nil)
        #expect(parsed.rows[2].customer.status == .optedOut)
    }

    @Test func csvRefusesAMissingColumnAndReportsABadStatusByRow() throws {
        let missing = try Self.file("m.csv", "ref,phone\nc-1,+14155550100\n")
        #expect {
            try CustomerFile.csv(missing)
        } throws: { error in
            (error as? CtlError)?.message.contains("the header must name external_ref, phone and timezone") == true
        }
        let bad = try Self.file("b.csv", "external_ref,phone,timezone,status\nc-1,+1,UTC,asleep\nc-2,+2,UTC,\n")
        let parsed = try CustomerFile.csv(bad)
        #expect(parsed.errors == [ItemError(index: 2, ref: "c-1", reason: "unknown status \"asleep\"")])
        #expect(parsed.rows.map(\.customer.externalRef) == ["c-2"])
    }

    @Test func jsonLinesSkipBlankLinesAndReportBadOnesByLine() throws {
        let path = try Self.file("c.jsonl", """
            {"externalRef":"c-1","phone":"+14155550100","timezone":"UTC"}

            {"externalRef":"c-2"
            {"externalRef":"c-3","phone":"+14155550102","timezone":"UTC","name":"Zoe"}
            """)
        let parsed = try CustomerFile.jsonLines(path)
        #expect(parsed.rows.map(\.line) == [1, 4])
        #expect(parsed.rows[1].customer.name == "Zoe")
        #expect(parsed.errors.map(\.index) == [3])
        #expect(parsed.errors.first?.reason.hasPrefix("not a customer object") == true)
        #expect(throws: CtlError.self) { try CustomerFile.jsonLines("/nonexistent/c.jsonl") }
    }

    @Test func commandLineValuesBecomeJSON() {
        #expect(Automation.value("5") == .int(5))
        #expect(Automation.value("true") == .bool(true))
        #expect(Automation.value("1,2,3") == .array([.int(1), .int(2), .int(3)]))
        #expect(Automation.value("[1, 2]") == .array([.int(1), .int(2)]))
        #expect(Automation.value("Europe/Paris") == .string("Europe/Paris"))
        #expect(Automation.value("2026-12-25,2027-01-01", key: "blackoutDates") == .array([.string("2026-12-25"), .string("2027-01-01")]))
        #expect(Automation.value("2026-12-25", key: "blackoutDates") == .array([.string("2026-12-25")]))
        #expect(Automation.value(#"[{"days":[6],"start":"10:00","end":"13:00"}]"#, key: "windows")
            == .array([.object(["days": .array([.int(6)]), "start": .string("10:00"), "end": .string("13:00")])]))
        #expect(Automation.value("09:00") == .string("09:00"))
        #expect(Automation.value("1,x") == .string("1,x"))
    }

    @Test func tablesAlignEveryColumnButTheLast() {
        #expect(Output.table([]) == "")
        #expect(Output.table([["ID", "STATUS", "NOTE"], ["12345", "QUEUED", "x"], ["7", "FAILED", "longer note"]]) == """
            ID     STATUS  NOTE
            12345  QUEUED  x
            7      FAILED  longer note
            """)
    }

    @Test func aJobsResultInOneLine() {
        #expect(Jobs.summary(nil) == "-")
        func job(_ status: JobStatus, attempts: Int, result: JSONValue?) -> JobView {
            JobView(
                id: 7, queueJobId: "q", customerId: 1, customerRef: "c", status: status, phase: nil, attemptsMade: attempts,
                maxAttempts: 3, priority: 0, runAt: "2026-12-02T14:00:00.000Z", reason: nil, result: result, leaseOwner: nil,
                leaseExpiresAt: nil, enqueuedAt: "2026-12-01T20:00:00.000Z", startedAt: nil, completedAt: nil, failedAt: nil,
                updatedAt: "2026-12-01T20:00:00.000Z")
        }
        #expect(Jobs.nextAttempt(job(.queued, attempts: 0, result: ["reason": "outside_working_hours", "deferred": true]))
            == "next: attempt 1 of 3 due 2026-12-02T14:00:00.000Z: deferred by the pre-dial check (outside_working_hours), this attempt given back")
        #expect(Jobs.nextAttempt(job(.queued, attempts: 1, result: ["outcome": "NO_ANSWER", "retry": true]))
            == "next: attempt 2 of 3 due 2026-12-02T14:00:00.000Z: a retry after NO_ANSWER")
        #expect(Jobs.nextAttempt(job(.queued, attempts: 0, result: nil)) == "next: attempt 1 of 3 due 2026-12-02T14:00:00.000Z: its first attempt")
        #expect(Jobs.nextAttempt(job(.completed, attempts: 1, result: ["outcome": "ANSWERED"])) == nil)
        #expect(Jobs.summary(.object(["reason": .string("agent"), "retry": .bool(true), "n": .int(2), "x": .array([])])) == "n=2 reason=agent retry=true")
        #expect([1, 2, 3, 4, 5].chunked(2) == [[1, 2], [3, 4], [5]])
    }

    @Test func theCommandLineParsesAsOperatorsTypeIt() throws {
        let list = try #require(try CampaignCtl.parseAsRoot(["jobs", "list", "--status", "FAILED", "--limit", "10", "--json"]) as? Jobs.List)
        #expect(list.filters.status == .failed && list.limit == 10 && list.global.json)
        let retry = try #require(try CampaignCtl.parseAsRoot(["jobs", "retry", "4", "5", "--socket", "/tmp/s.sock"]) as? Jobs.Retry)
        #expect(retry.ids == [4, 5] && retry.global.socket == "/tmp/s.sock")
        #expect(throws: (any Error).self) { try CampaignCtl.parseAsRoot(["jobs", "list", "--status", "LOST"]) }
        #expect(throws: (any Error).self) { try CampaignCtl.parseAsRoot(["jobs", "retry", "four"]) }
        let create = try #require(try CampaignCtl.parseAsRoot([
            "campaigns", "create", "reminders", "--priority", "30", "--audience", "members", "--paused", "dailyCap=50",
            "--ends-at", "none",
        ]) as? Campaigns.Create)
        #expect(create.name == "reminders" && create.fields.priority == 30 && create.fields.audience == .members && create.paused)
        #expect(create.fields.settings == ["dailyCap=50"] && Campaigns.time(create.fields.endsAt) == .null)
        #expect(throws: (any Error).self) { try CampaignCtl.parseAsRoot(["campaigns", "create", "x", "--audience", "some"]) }
        let enqueue = try #require(try CampaignCtl.parseAsRoot(["jobs", "enqueue", "a", "--campaign", "sales"]) as? Jobs.Enqueue)
        #expect(enqueue.campaign == "sales" && enqueue.customers == ["a"])
    }

    @Test func globalOptionsBeforeTheVerbAsSystemctlTakesThem() throws {
        let hoisted = GlobalOptions.hoisted(["--socket", "/tmp/s.sock", "--json", "health"])
        #expect(hoisted == ["health", "--socket", "/tmp/s.sock", "--json"])
        let health = try #require(try CampaignCtl.parseAsRoot(hoisted) as? HealthCommand)
        #expect(health.global.socket == "/tmp/s.sock" && health.global.json)
        let jobs = try #require(
            try CampaignCtl.parseAsRoot(GlobalOptions.hoisted(["--socket=/x.sock", "jobs", "list", "--limit", "3"])) as? Jobs.List)
        #expect(jobs.global.socket == "/x.sock" && jobs.limit == 3 && !jobs.global.json)
        // After the verb, as before; before a `--`, never taken for a positional argument.
        #expect(GlobalOptions.hoisted(["health", "--json"]) == ["health", "--json"])
        #expect(GlobalOptions.hoisted(["--json", "jobs", "get", "--", "-7"]) == ["jobs", "get", "--json", "--", "-7"])
        // What is not a global option stays where it is, for the parser to answer.
        #expect(GlobalOptions.hoisted(["--help"]) == ["--help"])
        #expect(GlobalOptions.hoisted(["--socket"]) == ["--socket"])
        #expect(GlobalOptions.hoisted(["--json", "--verbose", "health"]) == ["--verbose", "health", "--json"])
    }

    @Test func campaignWindowsInOneLine() {
        var s = AutomationSettings()
        #expect(Campaigns.windows(s) == "1-5 09:00-18:00")
        s.windows = [.init(days: [1, 2, 3, 4, 5], start: "09:00", end: "12:00"), .init(days: [6, 7], start: "10:00", end: "13:00")]
        #expect(Campaigns.windows(s) == "1-5 09:00-12:00, 6,7 10:00-13:00")
    }
}

@Suite("campaign-ctl suppressions import")
struct SuppressionImportTests {
    @Test func rowsByColumnNameTheFileAsSourceAndBadRowsByNumber() throws {
        let path = try CtlTests.file("fl-dnc.csv", """
            Number,Reason,Expires-At
            +1 305 555 0100,,
            +1 305 555 0101,asked,2027-01-01T00:00:00Z

            ,no number,
            """)
        let parsed = try SuppressionsCommand.Import.read(path, reason: "do-not-call list")
        #expect(parsed.rows.map(\.line) == [2, 3])
        #expect(parsed.rows[0].entry == SuppressionInput(phone: "+1 305 555 0100", reason: "do-not-call list", source: "fl-dnc.csv"))
        #expect(parsed.rows[1].entry.reason == "asked" && parsed.rows[1].entry.expiresAt == "2027-01-01T00:00:00Z")
        #expect(parsed.errors == [ItemError(index: 5, ref: nil, reason: "no phone")])
        let bad = try CtlTests.file("bad.csv", "name\nx\n")
        #expect(throws: CtlError.self) { try SuppressionsCommand.Import.read(bad, reason: "r") }
    }
}

@Suite("campaign-ctl customers why")
struct CustomersWhyTests {
    @Test func everyRuleOnALineAndTheNextAllowedInstant() {
        let r = ExplainCustomer.Result(
            customerId: 7, externalRef: "fl-1", campaign: "default", at: "2026-12-02T12:30:00.000Z",
            rules: [
                .init(rule: "outside_working_hours", passed: true, detail: "Wed 2026-12-02 07:30 on the customer's clock (America/New_York)"),
                .init(rule: "jurisdiction_hours", passed: false, detail: "US, US-FL: 08:00–20:00 every day"),
            ],
            runReason: "jurisdiction_hours", dial: "deferred", dialRule: "jurisdiction_hours",
            nextAllowedAt: "2026-12-02T13:00:00.000Z", jurisdiction: ["US", "US-FL"], rulesVersion: "2026-12-01")
        let text = Customers.Why.text(r)
        #expect(text.split(separator: "\n").contains {
            $0.hasPrefix("NO ") && $0.contains(" jurisdiction_hours ") && $0.hasSuffix("US, US-FL: 08:00–20:00 every day")
        }, "\(text)")
        #expect(text.contains("law: US, US-FL (rules 2026-12-01)"))
        #expect(text.contains("automation.run: left out (jurisdiction_hours)"))
        #expect(text.hasSuffix("pre-dial check: deferred (jurisdiction_hours) until 2026-12-02T13:00:00.000Z"))
    }
}
