import CampaignCore
import CampaignProtocol
import CampaignStore
import CampaignTestSupport
import Foundation
import Testing

/// The suppression list over the socket (issue 15): add, update, list, remove, each change in
/// the audit with who made it; a suppressed number's jobs refused at the pre-dial check and its
/// customers left out of `automation.run`.
@Suite("Suppressions")
struct SuppressionTests {
    @Test func addListRemoveAndEveryChangeAudited() async throws {
        try await CoordinatorHarness.run("suppress") { h in
            try await h.client { c in
                let added = try await c.call(AddSuppressions.self, .init(suppressions: [
                    .init(phone: "+44 20 7946 0001", reason: "asked on a call", source: "complaints"),
                    .init(phone: "0044 20 7946 0002", expiresAt: "2030-01-01T00:00:00+01:00"),
                    .init(phone: "+442079460001"),
                    .init(phone: "nope"),
                    .init(phone: "+442079460003", reason: ""),
                ]))
                #expect(added.added == 2 && added.updated == 0)
                #expect(added.rejected.map(\.index) == [2, 3, 4], "\(added.rejected)")
                // Again with a new reason: an update.
                let again = try await c.call(AddSuppressions.self, .init(suppressions: [.init(phone: "+442079460002", reason: "list")]))
                #expect(again.added == 0 && again.updated == 1)
                let list = try await c.call(ListSuppressions.self, .init(limit: 1))
                #expect(list.suppressions.map(\.phone) == ["+442079460001"] && list.nextCursor == "+442079460001")
                #expect(list.suppressions[0].reason == "asked on a call" && list.suppressions[0].addedBy.hasPrefix("uid:"))
                let rest = try await c.call(ListSuppressions.self, .init(cursor: list.nextCursor))
                #expect(rest.suppressions.map(\.phone) == ["+442079460002"] && rest.nextCursor == nil)
                #expect(rest.suppressions[0].reason == "list" && rest.suppressions[0].expiresAt == nil, "the update replaced the expiry")
                let one = try await c.call(ListSuppressions.self, .init(phone: "+44 20 7946 0002"))
                #expect(one.suppressions.count == 1)
                let removed = try await c.call(RemoveSuppressions.self, .init(phones: ["+44 20 7946 0002", "+442079469999", "x"]))
                #expect(removed.removed == 1 && removed.notFound == ["+442079469999", "x"])
            }
            #expect(try h.db.scalar("SELECT string_agg(action || ':' || phone, ' ' ORDER BY id) FROM campaign.suppression_changes")
                == "added:+442079460001 added:+442079460002 updated:+442079460002 removed:+442079460002")
            #expect(try h.db.scalar("SELECT count(DISTINCT by) FROM campaign.suppression_changes WHERE by LIKE 'uid:%'") == "1")
        }
    }

    @Test func aSuppressedNumberIsNotCalledAndItsCustomersAreLeftOut() async throws {
        try await CoordinatorHarness.run("suppressdial", settings: .wideOpen) { h in
            let ids = try await TestFactory.jobs(h.store, count: 3)
            let phones = try h.db.connect().query(unsafeSQL: "SELECT phone FROM campaign.customers ORDER BY id").all.map { try $0.string("phone") }
            try await h.client { c in
                _ = try await c.call(AddSuppressions.self, .init(suppressions: [.init(phone: phones[1])]))
                // An expired suppression does not count.
                _ = try await c.call(AddSuppressions.self, .init(suppressions: [.init(phone: phones[2], expiresAt: "2020-01-01T00:00:00Z")]))
                _ = try await c.call(AgentHello.self, .init(agentId: "a", capacity: 3, version: "t"))
                let leased = try await c.call(LeaseJobs.self, .init(max: 3, dial: true))
                #expect(leased.jobs.map(\.jobId) == [ids[0], ids[2]])
                #expect(leased.refused == [DialRefusal(jobId: ids[1], rule: "suppressed")])
                let run = try await c.call(RunAutomation.self, .init(dryRun: true))
                // The suppressed customer's job is finished (SKIPPED), so it is counted as suppressed;
                // the others have open jobs.
                #expect(run.leftOut["suppressed"] == 1 && run.leftOut["open_job"] == 2, "\(run.leftOut)")
            }
            #expect(try h.db.scalar("SELECT status || ' ' || (result ->> 'reason') FROM campaign.campaign_jobs WHERE id = \(ids[1])") == "SKIPPED suppressed")
            #expect(try h.db.scalar("SELECT rule || ' ' || (until IS NULL)::text FROM campaign.dial_refusals WHERE job_id = \(ids[1])")
                == "suppressed true")
            // A new customer on a suppressed number is left out of the run.
            _ = try await h.store.upsertCustomers([
                ValidCustomer(externalRef: "new", name: "", phone: phones[1], timezone: "UTC", status: nil, attributesJSON: nil)
            ])
            try await h.client { c in
                let run = try await c.call(RunAutomation.self, .init(dryRun: true))
                #expect(run.leftOut["suppressed"] == 2, "\(run.leftOut)")
            }
        }
    }
}
