import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging

/// The automation settings and runs: `automation.get`, `automation.set`, `automation.run`.
struct AutomationHandlers: MethodGroup {
    let coordinator: Coordinator

    func register(on router: RPCRouter) {
        let c = self.coordinator
        router.register(GetAutomation.self) { _, _ in try await c.settings(fresh: true) }
        router.register(SetAutomation.self) { p, ctx in try await self.set(p, ctx) }
        router.register(RunAutomation.self) { p, ctx in try await self.run(dryRun: p.dryRun ?? false, by: ctx) }
    }

    func set(_ p: SetAutomation.Params, _ ctx: RPCContext) async throws -> AutomationSettings {
        let c = self.coordinator
        let current = try await c.settings(fresh: true)
        let next: AutomationSettings
        do {
            next = try current.applying(p.values)
        } catch let e as SettingsError {
            throw RPCError(.validationFailed, "invalid settings: \(e.message)", details: ["problems": [.string(e.message)]])
        }
        let zones = try await c.knownTimezones()
        let problems = next.problems(knownTimezone: { zones.contains($0) })
        guard problems.isEmpty else {
            throw RPCError(
                .validationFailed, "invalid settings: " + problems.joined(separator: "; "),
                details: ["problems": .array(problems.map { .string($0) })])
        }
        let by = ctx.peer.map { "uid:\($0.uid)" } ?? "unknown"
        try await c.db { try await c.store.writeSettings(next, by: by) }
        c.settingsCache.set(next)
        ctx.logger.info("automation settings changed", metadata: ["by": "\(by)"])
        return next
    }

    /// `automation.run`: refused while automation is disabled, unless it is a dry run.
    /// (`ctx` nil: the maintenance leader's scheduled run.)
    func run(dryRun: Bool, by ctx: RPCContext?) async throws -> RunAutomation.Result {
        let c = self.coordinator
        let s = try await c.settings(fresh: true)
        guard s.enabled || dryRun else {
            throw RPCError(.automationDisabled, "automation is disabled: enable it first (or use a dry run)")
        }
        let counts = try await c.db { try await c.store.automationRun(s, dryRun: dryRun) }
        var leftOut = counts.byReason
        leftOut[EligibilityPolicy.Reason.dailyCap.rawValue] = counts.eligible - counts.picked
        let result = RunAutomation.Result(
            considered: counts.byReason.values.reduce(counts.eligible, +), enqueued: counts.enqueued,
            eligible: counts.picked, leftOut: leftOut, date: counts.date, capRemaining: counts.capRemaining,
            dryRun: dryRun)
        (ctx?.logger ?? c.logger).info(
            "automation run", metadata: [
                "dry.run": "\(dryRun)", "considered": "\(result.considered)", "enqueued": "\(result.enqueued)",
                "date": "\(result.date)",
            ])
        if counts.enqueued > 0 { c.wakeLeasers() }
        return result
    }
}
