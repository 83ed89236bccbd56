import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import CampaignTestSupport
import Foundation
import Testing

/// The coordinator served on a real socket over a real database.
@Suite("Coordinator over the socket")
struct CoordinatorTests {
    static func decode(_ line: String?) throws -> JSONValue {
        let text = try #require(line)
        return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    @Test func malformedInputGetsTheSpecErrorAndTheConnectionKeepsWorking() async throws {
        try await CoordinatorHarness.run("badinput") { h in
            try await RawLineClient.with(socketPath: h.socketPath) { send, receive in
                try await send("{not json\n")
                let parse = try Self.decode(try await receive())
                #expect(parse["error"]?["code"] == -32700 && parse["id"] == .null)

                try await send(#"{"jsonrpc":"2.0","id":7,"method":"no.such.method"}"# + "\n")
                let unknown = try Self.decode(try await receive())
                #expect(unknown["error"]?["code"] == -32601 && unknown["id"] == 7)

                try await send(#"{"jsonrpc":"2.0","id":"x","method":"jobs.list","params":{"limit":"many"}}"# + "\n")
                let types = try Self.decode(try await receive())
                #expect(types["error"]?["code"] == -32602 && types["id"] == "x")
                #expect(types["error"]?["message"]?.stringValue?.contains("limit") == true)

                try await send(#"{"jsonrpc":"2.0","id":8,"method":"health"}"# + "\n")
                let ok = try Self.decode(try await receive())
                #expect(ok["result"]?["database"] == "up" && ok["id"] == 8)
            }
        }
    }

    @Test func oversizedLineIsRefusedAndTheNextLineIsServed() async throws {
        try await CoordinatorHarness.run("oversize", maximumLineLength: 1024) { h in
            try await RawLineClient.with(socketPath: h.socketPath) { send, receive in
                try await send(#"{"jsonrpc":"2.0","id":1,"method":"health","params":{"pad":""# + String(repeating: "x", count: 5000) + "\"}}\n")
                let refused = try Self.decode(try await receive())
                #expect(refused["error"]?["data"]?["code"] == "LIMIT_EXCEEDED")
                try await send(#"{"jsonrpc":"2.0","id":2,"method":"health"}"# + "\n")
                let ok = try Self.decode(try await receive())
                #expect(ok["id"] == 2 && ok["result"] != nil)
            }
        }
    }

    @Test func batchesAndNotifications() async throws {
        try await CoordinatorHarness.run("batch") { h in
            try await RawLineClient.with(socketPath: h.socketPath) { send, receive in
                // A notification gets no answer; the request after it does.
                try await send(#"{"jsonrpc":"2.0","method":"health"}"# + "\n")
                try await send(#"[{"jsonrpc":"2.0","id":1,"method":"health"},{"jsonrpc":"2.0","method":"health"},{"jsonrpc":"2.0","id":2,"method":"nope"}]"# + "\n")
                guard case .array(let answers) = try Self.decode(try await receive()) else {
                    Issue.record("expected a batch answer")
                    return
                }
                #expect(answers.count == 2)
                #expect(answers.contains { $0["id"] == 1 && $0["result"] != nil })
                #expect(answers.contains { $0["id"] == 2 && $0["error"]?["code"] == -32601 })
                try await send("[]\n")
                #expect(try Self.decode(try await receive())["error"]?["code"] == -32600)
            }
        }
    }

    @Test func leaseNeedsHello() async throws {
        try await CoordinatorHarness.run("nohello") { h in
            try await h.client { c in
                await #expect(throws: RPCError.self) { try await c.call(LeaseJobs.self, .init(max: 1)) }
                do {
                    _ = try await c.call(LeaseJobs.self, .init(max: 1))
                } catch let e as RPCError {
                    #expect(e.symbol == "INVALID_STATE")
                }
            }
        }
    }

    @Test func anIdleLongPollIsWokenByAnEnqueueNotByPolling() async throws {
        // The fallback poll is set far beyond the test's span: only the in-process wake-up can deliver.
        try await CoordinatorHarness.run("wake", fallbackPoll: .seconds(600)) { h in
            _ = try await h.store.upsertCustomers(TestFactory.customers(1))
            try await h.client { agent in
                _ = try await agent.call(AgentHello.self, .init(agentId: "a1", capacity: 1, version: "t"))
                async let leased = agent.call(LeaseJobs.self, .init(max: 1, waitMs: 30_000))
                // Let the poll find nothing and start waiting.
                while h.coordinator.signal.waiterCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
                // The same connection still answers other calls while the poll waits (answers out of order).
                let health = try await agent.call(Health.self, NoParams())
                #expect(health.agents == 1)
                let start = ContinuousClock.now
                try await h.client { admin in
                    let r = try await admin.call(EnqueueJobs.self, .init(jobs: [.init(customerRef: "cust-0000")]))
                    #expect(r.enqueued == 1)
                }
                let jobs = try await leased.jobs
                #expect(jobs.count == 1)
                #expect(ContinuousClock.now - start < .seconds(60))
                print("lease wake-up after enqueue: \(ContinuousClock.now - start)")
            }
        }
    }

    @Test func disconnectReturnsClaimedJobsAtOnce() async throws {
        try await CoordinatorHarness.run("disconnect") { h in
            try await TestFactory.jobs(h.store, count: 3)
            let leased = try await h.client { agent in
                _ = try await agent.call(AgentHello.self, .init(agentId: "a1", capacity: 3, version: "t"))
                return try await agent.call(LeaseJobs.self, .init(max: 3)).jobs
            }
            #expect(leased.count == 3)
            #expect(try await h.eventually("SELECT count(*) = 3 FROM campaign.campaign_jobs WHERE status = 'QUEUED' AND attempts_made = 1"))
        }
    }

    @Test func aReconnectingAgentKeepsItsDialingLeasesByNamingThem() async throws {
        try await CoordinatorHarness.run("adopt") { h in
            try await TestFactory.jobs(h.store, count: 2)
            let jobs = try await h.client { agent in
                _ = try await agent.call(AgentHello.self, .init(agentId: "a1", capacity: 2, version: "t"))
                let jobs = try await agent.call(LeaseJobs.self, .init(max: 2)).jobs
                _ = try await agent.call(DialingJob.self, .init(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken))
                return jobs
            }
            // The CLAIMED one went back to the queue at the disconnect; the DIALING one stays with the old connection.
            #expect(try await h.eventually("SELECT count(*) = 1 FROM campaign.campaign_jobs WHERE status = 'QUEUED'"))
            try await h.client { agent in
                let hello = try await agent.call(
                    AgentHello.self,
                    .init(agentId: "a1", capacity: 2, version: "t", leases: jobs.map { HeldLease(jobId: $0.jobId, leaseToken: $0.leaseToken) } + [HeldLease(jobId: 1, leaseToken: "not-a-uuid")]))
                #expect(hello.adoptedLeases == [jobs[0].jobId])
                #expect(try h.db.scalar("SELECT lease_owner LIKE 'a1@test#%' AND lease_owner <> $1 FROM campaign.campaign_jobs WHERE id = $2", ["a1@test#1", String(jobs[0].jobId)]) == "t")
                let done = try await agent.call(CompleteJob.self, .init(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, outcome: .answered, call: nil))
                #expect(done.status == .completed)
            }
        }
    }

    @Test func concurrentReportsAreGroupCommitted() async throws {
        try await CoordinatorHarness.run("groupcommit") { h in
            try await TestFactory.jobs(h.store, count: 60)
            try await h.client { agent in
                _ = try await agent.call(AgentHello.self, .init(agentId: "a1", capacity: 60, version: "t"))
                let jobs = try await agent.call(LeaseJobs.self, .init(max: 60)).jobs
                #expect(jobs.count == 60)
                // Sixty dialing checks at once, on one connection, answered individually.
                let answers = try await withThrowingTaskGroup(of: (Int64, DialingJob.Result).self) { group in
                    for job in jobs {
                        group.addTask {
                            (job.jobId, try await agent.call(DialingJob.self, .init(jobId: job.jobId, leaseToken: job.leaseToken)))
                        }
                    }
                    var all: [Int64: DialingJob.Result] = [:]
                    for try await (id, r) in group { all[id] = r }
                    return all
                }
                let expected = Dictionary(uniqueKeysWithValues: jobs.map { ($0.jobId, "\($0.queueJobId)#1") })
                #expect(answers.mapValues { $0.idempotencyKey } == expected.mapValues { Optional($0) })
            }
            let sizes = h.coordinator.batchSizes
            #expect(sizes.reduce(0, +) == 60)
            // While one batch is written the others queue up: fewer transactions than requests.
            #expect(sizes.count < 60, "batches: \(sizes)")
            #expect(try h.db.scalar("SELECT count(*) = 60 FROM campaign.campaign_jobs WHERE phase = 'DIALING'") == "t")
        }
    }

    /// `jobs.report`: each report answers as its own method would (result or error object, in
    /// order), the valid ones in one group commit, a refused one holding back none of the others.
    @Test func severalReportsInOneRequestAnswerEachInOrder() async throws {
        try await CoordinatorHarness.run("reportmany") { h in
            try await TestFactory.jobs(h.store, count: 4)
            try await h.client { agent in
                _ = try await agent.call(AgentHello.self, .init(agentId: "a1", capacity: 4, version: "t"))
                let jobs = try await agent.call(LeaseJobs.self, .init(max: 4, dial: true)).jobs
                #expect(jobs.count == 4)
                func call(_ j: LeasedJob, _ outcome: CallOutcome) -> CallRecord {
                    CallRecord(provider: "t", providerCallId: "p-\(j.jobId)", idempotencyKey: j.idempotencyKey!, startedAt: nil,
                               endedAt: nil, outcome: outcome, durationMs: 5, detail: ["k": "v"])
                }
                let before = h.coordinator.batchSizes.count
                let reports: [JobReport] = [
                    .complete(.init(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, outcome: .answered, call: call(jobs[0], .answered))),
                    .fail(.init(jobId: jobs[1].jobId, leaseToken: jobs[1].leaseToken, retryable: true, error: "busy", outcome: .busy,
                                call: call(jobs[1], .busy))),
                    .fail(.init(jobId: jobs[2].jobId, leaseToken: "00000000-0000-0000-0000-000000000000", retryable: true, error: "x",
                                outcome: nil, call: nil)),
                    .fail(.init(jobId: jobs[3].jobId, leaseToken: jobs[3].leaseToken, retryable: true, error: "", outcome: nil, call: nil)),
                    JobReport(
                        complete: .init(jobId: jobs[3].jobId, leaseToken: jobs[3].leaseToken, outcome: .answered, call: nil),
                        skip: .init(jobId: jobs[3].jobId, leaseToken: jobs[3].leaseToken, reason: "both")),
                    .complete(.init(jobId: 999_999, leaseToken: jobs[0].leaseToken, outcome: .answered, call: nil)),
                ]
                let answer = try await agent.call(ReportJobs.self, .init(reports: reports))
                let r = answer.results
                #expect(r.count == 6)
                #expect(r[0].result?.status == .completed && r[0].result?.replayed == false && r[0].error == nil)
                #expect(r[1].result?.status == .queued && r[1].result?.runAt != nil)
                #expect(r[2].error?.symbol == "LEASE_LOST" && r[2].result == nil)
                #expect(r[3].error?.symbol == "VALIDATION_FAILED")
                #expect(r[4].error?.symbol == "VALIDATION_FAILED")
                #expect(r[5].error?.symbol == "NOT_FOUND")
                // The four that passed the checks (the unknown job is the store's to find) went in one transaction.
                #expect(Array(h.coordinator.batchSizes.dropFirst(before)) == [4])
                // Resent as it was: what landed replays, nothing is logged twice.
                let again = try await agent.call(ReportJobs.self, .init(reports: Array(reports.prefix(2))))
                #expect(again.results.map { $0.result?.replayed } == [true, true])
                #expect(try h.db.scalar("SELECT count(*) FROM campaign.call_logs") == "2")
                #expect(try h.db.scalar("SELECT status FROM campaign.campaign_jobs WHERE id = \(jobs[3].jobId)") == "ACTIVE")
                // The request itself: 1…1000 reports.
                await #expect(throws: RPCError.self) { _ = try await agent.call(ReportJobs.self, .init(reports: [])) }
            }
        }
    }

    @Test func wholeAgentCycleOverTheSocket() async throws {
        try await CoordinatorHarness.run("cycle") { h in
            try await TestFactory.jobs(h.store, count: 2)
            try await h.client { agent in
                _ = try await agent.call(AgentHello.self, .init(agentId: "a1", capacity: 2, version: "t"))
                let jobs = try await agent.call(LeaseJobs.self, .init(max: 2)).jobs
                #expect(jobs.count == 2)
                let d = try await agent.call(DialingJob.self, .init(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken))
                let call = CallRecord(provider: "t", providerCallId: nil, idempotencyKey: d.idempotencyKey!, startedAt: nil, endedAt: nil, outcome: .answered, durationMs: 5, detail: nil)
                let done = try await agent.call(CompleteJob.self, .init(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, outcome: .answered, call: call))
                #expect(done.status == .completed)
                let again = try await agent.call(CompleteJob.self, .init(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, outcome: .answered, call: call))
                #expect(again.status == .completed && again.replayed)
                let skipped = try await agent.call(SkipJob.self, .init(jobId: jobs[1].jobId, leaseToken: jobs[1].leaseToken, reason: "not today"))
                #expect(skipped.status == .skipped)
                do {
                    _ = try await agent.call(FailJob.self, .init(jobId: jobs[1].jobId, leaseToken: "00000000-0000-0000-0000-000000000000", retryable: true, error: "x", outcome: nil, call: nil))
                    Issue.record("a stale token must be refused")
                } catch let e as RPCError {
                    #expect(e.symbol == "LEASE_LOST" && !e.retryable)
                }
                let got = try await agent.call(GetJob.self, .init(id: jobs[0].jobId))
                #expect(got.callLogs.count == 1 && got.callLogs[0].agent == "a1")
                let page = try await agent.call(ListJobs.self, .init(status: .completed))
                #expect(page.jobs.map(\.id) == [jobs[0].jobId])
                let tally = try await agent.call(TallyJobs.self, CampaignParam())
                #expect(tally.byStatus.COMPLETED == 1 && tally.byStatus.SKIPPED == 1 && tally.callLogs == 1)
            }
        }
    }

    /// A malformed call record is refused alone (VALIDATION_FAILED, nothing written): it must not
    /// reach the report batch, whose transaction it would fail for every agent in it.
    @Test(arguments: [
        ("yesterday", "2026-11-29T10:00:01Z", 5, "startedAt"),
        ("2026-11-29T10:00:00Z", "2026-11-29 10:00", 5, "endedAt"),
        ("2026-11-29T10:00:05Z", "2026-11-29T10:00:00Z", 5, "before"),
        ("2026-11-29T10:00:00.250Z", "2026-11-29T11:00:01+01:00", -1, "durationMs"),
    ])
    func malformedCallRecordsAreRefusedAlone(_ started: String, _ ended: String, _ ms: Int, _ named: String) async throws {
        try await CoordinatorHarness.run("badcall") { h in
            try await TestFactory.jobs(h.store, count: 2)
            try await h.client { agent in
                _ = try await agent.call(AgentHello.self, .init(agentId: "a1", capacity: 2, version: "t"))
                let jobs = try await agent.call(LeaseJobs.self, .init(max: 2)).jobs
                var keys: [String] = []
                for j in jobs {
                    keys.append(try await agent.call(DialingJob.self, .init(jobId: j.jobId, leaseToken: j.leaseToken)).idempotencyKey!)
                }
                let bad = CallRecord(
                    provider: "t", providerCallId: nil, idempotencyKey: keys[0], startedAt: started, endedAt: ended,
                    outcome: .answered, durationMs: ms, detail: nil)
                let good = CallRecord(
                    provider: "t", providerCallId: "p-2", idempotencyKey: keys[1], startedAt: "2026-11-29T10:00:00Z",
                    endedAt: "2026-11-29T10:00:03.5+00:00", outcome: .answered, durationMs: 3500, detail: ["x": 1])
                // Sent together, so that they would share a batch.
                async let refused: ReportResult = agent.call(
                    CompleteJob.self, .init(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, outcome: .answered, call: bad))
                async let accepted = agent.call(
                    CompleteJob.self, .init(jobId: jobs[1].jobId, leaseToken: jobs[1].leaseToken, outcome: .answered, call: good))
                do {
                    _ = try await refused
                    Issue.record("a malformed call record must be refused")
                } catch let e as RPCError {
                    #expect(e.symbol == "VALIDATION_FAILED", "\(e)")
                    #expect(e.message.contains(named), "\(e.message)")
                }
                #expect(try await accepted.status == .completed)
                #expect(try h.db.scalar("SELECT phase FROM campaign.campaign_jobs WHERE id = \(jobs[0].jobId)") == "DIALING")
                #expect(try h.db.scalar("SELECT count(*) FROM campaign.call_logs") == "1")
                // The same report with a sound record then lands.
                let fixed = CallRecord(
                    provider: "t", providerCallId: nil, idempotencyKey: keys[0], startedAt: nil, endedAt: nil,
                    outcome: .answered, durationMs: nil, detail: nil)
                let done = try await agent.call(
                    CompleteJob.self, .init(jobId: jobs[0].jobId, leaseToken: jobs[0].leaseToken, outcome: .answered, call: fixed))
                #expect(done.status == .completed)
            }
        }
    }

    @Test func jobsListFiltersByReasonOutcomeAndUpdateTime() async throws {
        try await CoordinatorHarness.run("listfilters") { h in
            try await TestFactory.jobs(h.store, count: 4)
            _ = try h.db.scalar("""
                WITH o AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM campaign.campaign_jobs),
                u AS (
                    UPDATE campaign.campaign_jobs j SET
                        status = CASE o.n WHEN 1 THEN 'FAILED' WHEN 2 THEN 'FAILED' WHEN 3 THEN 'COMPLETED' ELSE j.status END::campaign.campaign_job_status,
                        result = CASE o.n WHEN 1 THEN '{"reason":"outcome_unknown","outcome":"FAILED"}'::jsonb
                                          WHEN 2 THEN '{"reason":"reported","outcome":"NO_ANSWER"}'::jsonb
                                          WHEN 3 THEN '{"outcome":"ANSWERED"}'::jsonb ELSE j.result END,
                        updated_at = CASE o.n WHEN 1 THEN '2026-11-27T12:00:00Z'::timestamptz
                                              WHEN 2 THEN '2026-11-28T12:00:00Z'::timestamptz
                                              WHEN 3 THEN '2026-11-28T18:00:00Z'::timestamptz ELSE j.updated_at END
                    FROM o WHERE o.id = j.id RETURNING 1)
                SELECT count(*) FROM u
                """)
            try await h.client { c in
                let all = try await c.call(ListJobs.self, .init()).jobs.map(\.id).sorted()
                #expect(all.count == 4)
                func ids(_ p: ListJobs.Params) async throws -> [Int64] { try await c.call(ListJobs.self, p).jobs.map(\.id) }
                #expect(try await ids(.init(reason: "outcome_unknown")) == [all[0]])
                #expect(try await ids(.init(outcome: .noAnswer)) == [all[1]])
                #expect(try await ids(.init(updatedSince: "2026-11-28T00:00:00Z", updatedBefore: "2026-11-29T00:00:00+00:00")) == [all[2], all[1]])
                #expect(try await ids(.init(status: .failed, updatedSince: "2026-11-28T00:00:00Z")) == [all[1]])
                #expect(try await ids(.init(updatedBefore: "2026-11-28T00:00:00Z")) == [all[0]])
                // Paging keeps the filters.
                let first = try await c.call(ListJobs.self, .init(limit: 1, updatedSince: "2026-11-28T00:00:00Z", updatedBefore: "2026-11-29T00:00:00Z"))
                #expect(first.jobs.map(\.id) == [all[2]])
                #expect(try await ids(.init(limit: 1, cursor: first.nextCursor, updatedSince: "2026-11-28T00:00:00Z", updatedBefore: "2026-11-29T00:00:00Z")) == [all[1]])
                do {
                    _ = try await c.call(ListJobs.self, .init(updatedSince: "yesterday"))
                    Issue.record("an unparseable time must be refused")
                } catch let e as RPCError {
                    #expect(e.symbol == "VALIDATION_FAILED" && e.message.contains("updatedSince"))
                }
            }
        }
    }

    @Test func customersUpsertValidatesEachRowAndKeepsTheRest() async throws {
        try await CoordinatorHarness.run("upsert") { h in
            try await h.client { c in
                let r = try await c.call(UpsertCustomers.self, .init(customers: [
                    .init(externalRef: "ok1", name: "A", phone: "+44 20 7946 0958", timezone: "Europe/London"),
                    .init(externalRef: "bad-phone", phone: "12345", timezone: "Europe/London"),
                    .init(externalRef: "bad-tz", phone: "+14155550100", timezone: "Mars/Olympus"),
                    .init(externalRef: "ok1", phone: "+14155550100", timezone: "Europe/London"),
                    .init(externalRef: "bad-region", phone: "+14155550100", timezone: "UTC", region: "Florida"),
                    .init(externalRef: "fl", phone: "+1 212 555 0100", timezone: "America/New_York", region: " us-fl "),
                ]))
                #expect(r.inserted == 2 && r.updated == 0)
                #expect(r.rejected.map(\.index) == [1, 2, 3, 4])
                #expect(r.rejected.last?.reason.contains("ISO 3166-2") == true, "\(r.rejected)")
                // A New York number with Florida stated: the rules of both (the stricter hours and cap).
                let fl = try await c.call(GetCustomer.self, .init(externalRef: "fl"))
                #expect(fl.region == "US-FL" && fl.jurisdiction == ["US", "US-FL"], "\(fl)")
                #expect(try await c.call(GetCustomer.self, .init(externalRef: "ok1")).jurisdiction.isEmpty)
            }
            #expect(try h.db.scalar("SELECT phone FROM campaign.customers WHERE external_ref = 'ok1'") == "+442079460958")
            #expect(try h.db.scalar("SELECT jurisdiction FROM campaign.customers WHERE external_ref = 'fl'") == "US,US-FL")
        }
    }

    @Test func aRequestOverTheLineLimitFailsAtOnceAndTheConnectionGoesOn() async throws {
        try await CoordinatorHarness.run("bigrequest") { h in
            try await h.client { c in
                let many = (0..<9_500).map {
                    CustomerInput(externalRef: "long-ref-\($0)", name: "Nikolai Kowalski", phone: "+27115550100", timezone: "Africa/Johannesburg")
                }
                do {
                    _ = try await c.call(UpsertCustomers.self, .init(customers: many))
                    Issue.record("a request over 1 MiB must be refused")
                } catch let e as RPCError {
                    #expect(e.symbol == "LIMIT_EXCEEDED" && e.message.contains("line limit"), "\(e)")
                }
                #expect(try await c.call(Health.self, NoParams()).database == "up")
            }
        }
    }

    @Test func manualEnqueuesCannotTakeTheAutomaticQueueIDForm() async throws {
        try await CoordinatorHarness.run("reserved") { h in
            _ = try await h.store.upsertCustomers(TestFactory.customers(1))
            try await h.client { c in
                let r = try await c.call(EnqueueJobs.self, .init(jobs: [
                    .init(customerRef: "cust-0000", queueJobId: "cust-0000:2026-11-29"),
                    .init(customerRef: "cust-0000", queueJobId: "2026-11-29:cust-0000"),
                ]))
                #expect(r.rejected.map(\.index) == [0] && r.enqueued == 1)
            }
        }
    }

    @Test func currentZoneNamesFoundationDoesNotListAreAccepted() async throws {
        try await CoordinatorHarness.run("kolkata") { h in
            try await h.client { c in
                let r = try await c.call(UpsertCustomers.self, .init(customers: [
                    .init(externalRef: "in-1", phone: "+912212345678", timezone: "Asia/Kolkata"),
                    .init(externalRef: "ua-1", phone: "+380441234567", timezone: "Europe/Kyiv"),
                ]))
                #expect(r.inserted == 2 && r.rejected.isEmpty, "\(r.rejected)")
                let s = try await c.call(SetAutomation.self, .init(["timezone": "Asia/Kolkata"]))
                #expect(s.timezone == "Asia/Kolkata")
            }
        }
    }

    @Test func automationSetValidatesAndRecordsWho() async throws {
        try await CoordinatorHarness.run("automation") { h in
            try await h.client { c in
                let before = try await c.call(GetAutomation.self, CampaignParam())
                for bad: [String: JSONValue] in [
                    ["retryBaseMs": 10_000, "retryCapMs": 5], ["timezone": "Mars/Olympus"], ["workingHoursEnd": "25:00"],
                    ["workingDays": [0, 8]], ["dailyCap": "many"], ["noSuchSetting": 1],
                    ["workingHoursStart": "18:00", "workingHoursEnd": "09:00"],
                ] {
                    do {
                        _ = try await c.call(SetAutomation.self, .init(bad))
                        Issue.record("\(bad) must be refused")
                    } catch let e as RPCError {
                        #expect(e.symbol == "VALIDATION_FAILED", "\(bad): \(e)")
                    }
                }
                #expect(try await c.call(GetAutomation.self, CampaignParam()) == before)  // nothing half-applied
                let s = try await c.call(SetAutomation.self, .init(["maxAttempts": 5, "timezone": "Europe/Paris"]))
                #expect(s.maxAttempts == 5 && s.timezone == "Europe/Paris")
            }
            #expect(try h.db.scalar("SELECT updated_by FROM campaign.automation_settings_log WHERE key = 'maxAttempts' ORDER BY id DESC LIMIT 1") == "uid:\(getuid())")
        }
    }
}
