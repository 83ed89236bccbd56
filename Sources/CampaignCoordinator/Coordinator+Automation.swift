import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

// The automation settings and runs: `automation.get`, `automation.set`, `automation.run`.

extension Coordinator {
    /// Registers the automation methods.
    func registerAutomationMethods(on r: GuardedRegistrar) {
        r.register(GetAutomation.self) { _, _ in try await self.settings(fresh: true) }
        r.register(SetAutomation.self) { p, ctx in try await self.setAutomation(p, ctx) }
        r.register(RunAutomation.self) { p, ctx in try await self.runAutomation(dryRun: p.dryRun ?? false, by: ctx) }
    }

    func setAutomation(_ p: SetAutomation.Params, _ ctx: RPCContext) async throws -> AutomationSettings {
        let current = try await self.settings(fresh: true)
        let next: AutomationSettings
        do {
            next = try current.applying(p.values)
        } catch let e as SettingsError {
            throw RPCError(.validationFailed, "invalid settings: \(e.message)", details: ["problems": [.string(e.message)]])
        }
        let zones = try await self.knownTimezones()
        let problems = next.problems(knownTimezone: { zones.contains($0) })
        guard problems.isEmpty else {
            throw RPCError(
                .validationFailed, "invalid settings: " + problems.joined(separator: "; "),
                details: ["problems": .array(problems.map { .string($0) })])
        }
        let by = ctx.peer.map { "uid:\($0.uid)" } ?? "unknown"
        try await self.db { try await self.store.writeSettings(next, by: by) }
        self.settingsCache.set(next)
        ctx.logger.info("automation settings changed", metadata: ["by": "\(by)"])
        return next
    }

    /// `automation.run`: refused while automation is disabled, unless it is a dry run.
    public func runAutomation(dryRun: Bool, by ctx: RPCContext?) async throws -> RunAutomation.Result {
        let s = try await self.settings(fresh: true)
        guard s.enabled || dryRun else {
            throw RPCError(.automationDisabled, "automation is disabled: enable it first (or use a dry run)")
        }
        let c = try await self.db { try await self.store.automationRun(s, dryRun: dryRun) }
        var leftOut = c.byReason
        leftOut[EligibilityPolicy.Reason.dailyCap.rawValue] = c.eligible - c.picked
        let result = RunAutomation.Result(
            considered: c.byReason.values.reduce(c.eligible, +), enqueued: c.enqueued, eligible: c.picked,
            leftOut: leftOut, date: c.date, capRemaining: c.capRemaining, dryRun: dryRun)
        (ctx?.logger ?? self.logger).info(
            "automation run", metadata: [
                "dry.run": "\(dryRun)", "considered": "\(result.considered)", "enqueued": "\(result.enqueued)",
                "date": "\(result.date)",
            ])
        if c.enqueued > 0 { self.wakeLeasers() }
        return result
    }
}
