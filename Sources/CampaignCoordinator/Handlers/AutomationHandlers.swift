import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging

/// The automation settings and runs, of the default campaign or a named one: `automation.get`,
/// `automation.set`, `automation.run`.
struct AutomationHandlers: MethodGroup {
    let coordinator: Coordinator

    func register(on router: RPCRouter) {
        let c = self.coordinator
        router.register(GetAutomation.self) { p, _ in
            _ = try await c.campaigns(fresh: true)
            return try await c.campaign(p.campaign).settings
        }
        router.register(SetAutomation.self) { p, ctx in try await self.set(p, ctx) }
        router.register(RunAutomation.self) { p, ctx in
            _ = try await c.campaigns(fresh: true)
            return try await self.run(dryRun: p.dryRun ?? false, campaign: try await c.campaign(p.campaign), by: ctx)
        }
    }

    /// `current` with `patch` applied and every field validated; VALIDATION_FAILED with each
    /// problem otherwise. Another campaign than the default refuses the deployment's own settings.
    static func applying(
        _ patch: [String: JSONValue], to current: AutomationSettings, deployment: Bool, zones: Set<String>
    ) throws -> AutomationSettings {
        if !deployment, let key = patch.keys.sorted().first(where: AutomationSettings.deploymentKeys.contains) {
            let message = "\(key) is the deployment's, not a campaign's: set it on the default campaign"
            throw RPCError(.validationFailed, "invalid settings: \(message)", details: ["problems": [.string(message)]])
        }
        let next: AutomationSettings
        do {
            next = try current.applying(patch)
        } catch let e as SettingsError {
            throw RPCError(.validationFailed, "invalid settings: \(e.message)", details: ["problems": [.string(e.message)]])
        }
        let problems = next.problems(knownTimezone: { zones.contains($0) })
        guard problems.isEmpty else {
            throw RPCError(
                .validationFailed, "invalid settings: " + problems.joined(separator: "; "),
                details: ["problems": .array(problems.map { .string($0) })])
        }
        return next
    }

    func set(_ p: SetAutomation.Params, _ ctx: RPCContext) async throws -> AutomationSettings {
        let c = self.coordinator
        _ = try await c.campaigns(fresh: true)
        let campaign = try await c.campaign(p.campaign)
        let zones = try await c.knownTimezones()
        guard campaign.status != .ended else { throw CampaignHandlers.ended(campaign) }
        let next = try Self.applying(p.values, to: campaign.settings, deployment: campaign.isDefault, zones: zones)
        let by = ctx.peer.map { "uid:\($0.uid)" } ?? "unknown"
        try await c.db { try await c.store.writeSettings(next, by: by, campaignId: campaign.id) }
        c.settingsCache.invalidate()
        ctx.logger.info("automation settings changed", metadata: ["by": "\(by)", "campaign": "\(campaign.name)"])
        // A change of the deployment's own settings shows in every campaign's.
        return try await c.campaigns(fresh: true)[id: campaign.id]?.settings ?? next
    }

    /// `automation.run` for one campaign: refused while its automation is disabled, unless it is
    /// a dry run, and for an ended campaign. (`ctx` nil: the maintenance leader's scheduled run.)
    func run(dryRun: Bool, campaign: CampaignRecord, by ctx: RPCContext?) async throws -> RunAutomation.Result {
        let c = self.coordinator
        let s = campaign.settings
        guard campaign.status != .ended else {
            throw RPCError(.invalidState, "campaign \(campaign.name) has ended", details: ["campaign": .string(campaign.name)])
        }
        guard s.enabled || dryRun else {
            throw RPCError(.automationDisabled, "automation is disabled: enable it first (or use a dry run)")
        }
        let counts = try await c.db { try await c.store.automationRun(s, dryRun: dryRun, campaign: campaign) }
        var leftOut = counts.byReason
        leftOut[EligibilityPolicy.Reason.dailyCap.rawValue] = counts.eligible - counts.picked
        let result = RunAutomation.Result(
            considered: counts.byReason.values.reduce(counts.eligible, +), enqueued: counts.enqueued,
            eligible: counts.picked, leftOut: leftOut, date: counts.date, capRemaining: counts.capRemaining,
            dryRun: dryRun, campaign: campaign.name)
        (ctx?.logger ?? c.logger).info(
            "automation run", metadata: [
                "campaign": "\(campaign.name)", "dry.run": "\(dryRun)", "considered": "\(result.considered)", "enqueued": "\(result.enqueued)",
                "date": "\(result.date)",
            ])
        if counts.enqueued > 0 { c.wakeLeasers() }
        return result
    }
}
