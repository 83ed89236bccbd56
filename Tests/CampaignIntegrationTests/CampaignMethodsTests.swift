import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignTestSupport
import Foundation
import Testing

/// The campaigns methods over the socket, against a real PostgreSQL: what they refuse, and that
/// every other method keeps its meaning for the default campaign when it names none.
@Suite("Campaign methods")
struct CampaignMethodsTests {
    static func refused(_ symbol: String, _ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected \(symbol)")
        } catch let e as RPCError {
            #expect(e.symbol == symbol, "\(e)")
        } catch {
            Issue.record("expected \(symbol), got \(error)")
        }
    }

    @Test func createCopiesTheDefaultsSettingsAndRefusesWhatIsNotACampaigns() async throws {
        try await CoordinatorHarness.run("campaignmethods") { h in
            try await h.client { c in
                _ = try await c.call(SetAutomation.self, .init(["dailyCap": 777, "callsPerSecond": 3]))
                let made = try await c.call(
                    CreateCampaign.self,
                    .init(name: "collections", title: "Collections", priority: 20, settings: ["maxConcurrentCalls": 4]))
                // The default campaign's settings, with the change; the deployment's own shown as the default's.
                #expect(made.settings.dailyCap == 777 && made.settings.maxConcurrentCalls == 4 && made.settings.callsPerSecond == 3)
                #expect(made.status == .active && made.priority == 20 && made.audience == .all && made.members == 0)
                await Self.refused("VALIDATION_FAILED") { _ = try await c.call(CreateCampaign.self, .init(name: "collections")) }
                await Self.refused("VALIDATION_FAILED") { _ = try await c.call(CreateCampaign.self, .init(name: "Bad Name")) }
                await Self.refused("VALIDATION_FAILED") {
                    _ = try await c.call(CreateCampaign.self, .init(name: "late", endsAt: "2020-01-01T00:00:00Z"))
                }
                await Self.refused("VALIDATION_FAILED") {
                    _ = try await c.call(SetAutomation.self, .init(["leaseSeconds": 30], campaign: "collections"))
                }
                await Self.refused("NOT_FOUND") { _ = try await c.call(GetAutomation.self, .init(campaign: "nope")) }
                // A change of the deployment's own setting shows in every campaign.
                _ = try await c.call(SetAutomation.self, .init(["callsPerSecond": 9]))
                #expect(try await c.call(GetAutomation.self, .init(campaign: "collections")).callsPerSecond == 9)
                // The campaign's own settings change alone, and are logged under it.
                let own = try await c.call(SetAutomation.self, .init(["dailyCap": 50], campaign: "collections"))
                #expect(own.dailyCap == 50)
                #expect(try await c.call(GetAutomation.self, CampaignParam()).dailyCap == 777)
            }
            #expect(try h.db.scalar(
                """
                SELECT string_agg(l.new_value::text, ',') FROM campaign.automation_settings_log l
                JOIN campaign.campaigns k ON k.id = l.campaign_id WHERE k.name = 'collections' AND l.key = 'dailyCap'
                """) == "777,50")
        }
    }

    @Test func enqueueNamesTheCampaignAndEndedOrUnknownOnesRejectTheItem() async throws {
        try await CoordinatorHarness.run("campaignenqueue") { h in
            try await h.client { c in
                _ = try await c.call(UpsertCustomers.self, .init(customers: [
                    CustomerInput(externalRef: "a", phone: "+14155550001", timezone: "UTC"),
                    CustomerInput(externalRef: "b", phone: "+14155550002", timezone: "UTC"),
                ]))
                _ = try await c.call(CreateCampaign.self, .init(name: "sales", settings: ["maxAttempts": 5]))
                _ = try await c.call(CreateCampaign.self, .init(name: "old"))
                let ended = try await c.call(EndCampaign.self, .init(name: "old"))
                #expect(ended.campaign.status == .ended && ended.campaign.endedReason == "ended" && ended.skipped == 0)
                let r = try await c.call(EnqueueJobs.self, .init(jobs: [
                    EnqueueItem(customerRef: "a", campaign: "sales"), EnqueueItem(customerRef: "b"),
                    EnqueueItem(customerRef: "a", campaign: "old"), EnqueueItem(customerRef: "a", campaign: "nope"),
                ]))
                #expect(r.enqueued == 2 && r.rejected.map(\.index) == [2, 3], "\(r.rejected)")
                #expect(r.rejected.map(\.reason) == ["campaign old has ended", "unknown campaign nope"])
                let sales = try await c.call(ListJobs.self, .init(campaign: "sales"))
                #expect(sales.jobs.map(\.customerRef) == ["a"] && sales.jobs[0].campaign == "sales")
                #expect(sales.jobs[0].maxAttempts == 5, "the campaign's own attempts")
                #expect(try await c.call(ListJobs.self, .init()).jobs.count == 2)
                #expect(try await c.call(TallyJobs.self, .init(campaign: "sales")).byStatus.QUEUED == 1)
                #expect(try await c.call(TallyJobs.self, CampaignParam()).byStatus.QUEUED == 2)
                // Pause and end: idempotent, the default campaign never ends, an ended one never changes.
                #expect(try await c.call(PauseCampaign.self, .init(name: "sales")).status == .paused)
                #expect(try await c.call(PauseCampaign.self, .init(name: "sales")).status == .paused)
                #expect(try await c.call(ResumeCampaign.self, .init(name: "sales")).status == .active)
                await Self.refused("INVALID_STATE") { _ = try await c.call(EndCampaign.self, .init(name: "default")) }
                await Self.refused("INVALID_STATE") { _ = try await c.call(ResumeCampaign.self, .init(name: "old")) }
                await Self.refused("INVALID_STATE") { _ = try await c.call(UpdateCampaign.self, .init(name: "old", title: "x")) }
                await Self.refused("VALIDATION_FAILED") {
                    _ = try await c.call(UpdateCampaign.self, .init(name: "default", endsAt: .value("2099-01-01T00:00:00Z")))
                }
                let end = try await c.call(EndCampaign.self, .init(name: "sales"))
                #expect(end.skipped == 1)
                let health = try await h.coordinator.health()
                #expect(health.campaigns.map(\.name) == ["default"], "ended campaigns are not in health")
                #expect(try await c.call(ListCampaigns.self, .init(open: true)).campaigns.map(\.name) == ["default"])
                #expect(try await c.call(ListCampaigns.self, .init()).campaigns.map(\.name) == ["default", "old", "sales"])
            }
        }
    }
}
