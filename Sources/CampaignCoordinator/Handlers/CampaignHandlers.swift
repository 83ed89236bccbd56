import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging

/// Campaigns: `campaigns.create`, `.get`, `.list`, `.update`, `.pause`, `.resume`, `.end`,
/// `.addMembers`, `.removeMembers`.
struct CampaignHandlers: MethodGroup {
    let coordinator: Coordinator

    func register(on router: RPCRouter) {
        let c = self.coordinator
        router.register(CreateCampaign.self) { p, ctx in try await self.create(p, ctx) }
        router.register(GetCampaign.self) { p, _ in
            _ = try await c.campaigns(fresh: true)
            return try await self.view(try await c.campaign(p.name))
        }
        router.register(ListCampaigns.self) { p, _ in
            let all = try await c.campaigns(fresh: true).campaigns.filter { !(p.open ?? false) || $0.status != .ended }
            let members = try await c.db { try await c.store.memberCounts(all.map(\.id)) }
            return ListCampaigns.Result(campaigns: all.sorted { $0.name < $1.name }.map { $0.view(members: members[$0.id] ?? 0) })
        }
        router.register(UpdateCampaign.self) { p, ctx in try await self.update(p, ctx) }
        router.register(PauseCampaign.self) { p, ctx in try await self.setStatus(.paused, p.name, ctx) }
        router.register(ResumeCampaign.self) { p, ctx in try await self.setStatus(.active, p.name, ctx) }
        router.register(EndCampaign.self) { p, ctx in
            let campaign = try await self.setStatus(.ended, p.name, ctx)
            // The leader's sweep may skip some of them between the two: the answer counts them all.
            let id = try await c.campaign(p.name).id
            let skipped = try await c.db {
                _ = try await c.store.skipJobsOfEndedCampaigns()
                return try await c.store.endedSkips(campaignId: id)
            }
            ctx.logger.notice("campaign ended", metadata: ["campaign": "\(p.name)", "skipped": "\(skipped)"])
            return EndCampaign.Result(campaign: campaign, skipped: skipped)
        }
        router.register(AddCampaignMembers.self) { p, _ in try await self.members(p, remove: false) }
        router.register(RemoveCampaignMembers.self) { p, _ in try await self.members(p, remove: true) }
    }

    static func by(_ ctx: RPCContext) -> String { ctx.peer.map { "uid:\($0.uid)" } ?? "unknown" }

    /// The wire form, with the members counted now.
    func view(_ record: CampaignRecord) async throws -> CampaignView {
        let c = self.coordinator
        let members = try await c.db { try await c.store.memberCounts([record.id]) }
        return record.view(members: members[record.id] ?? 0)
    }

    /// `startsAt` before `endsAt`, and an `endsAt` still ahead (nil: fine).
    static func windowProblem(startsAt: String?, endsAt: String?, now: Date = Date()) -> String? {
        let start = startsAt.flatMap(Timestamp.parse)
        let end = endsAt.flatMap(Timestamp.parse)
        if let start, let end, start >= end { return "startsAt must be before endsAt" }
        if let end, end <= now { return "endsAt must be in the future" }
        return nil
    }

    func create(_ p: CreateCampaign.Params, _ ctx: RPCContext) async throws -> CampaignView {
        let c = self.coordinator
        let book = try await c.campaigns(fresh: true)
        if book[p.name] != nil {
            throw RPCError(.validationFailed, "a campaign named \(p.name) exists", details: ["campaign": .string(p.name)])
        }
        if let problem = Self.windowProblem(startsAt: p.startsAt, endsAt: p.endsAt) {
            throw RPCError(.validationFailed, problem)
        }
        // A new campaign starts from the default campaign's settings.
        let settings = try AutomationHandlers.applying(
            p.settings ?? [:], to: book.default.settings, deployment: false, zones: try await c.knownTimezones())
        let draft = CampaignRecord.draft(
            name: p.name, title: p.title ?? "", status: (p.paused ?? false) ? .paused : .active,
            startsAt: p.startsAt.flatMap(Timestamp.parse).map(Timestamp.string),
            endsAt: p.endsAt.flatMap(Timestamp.parse).map(Timestamp.string), priority: p.priority ?? 10,
            audience: p.audience ?? .all, settings: settings)
        let by = Self.by(ctx)
        guard let created = try await c.db({ try await c.store.createCampaign(draft, by: by) }) else {
            throw RPCError(.validationFailed, "a campaign named \(p.name) exists", details: ["campaign": .string(p.name)])
        }
        c.settingsCache.invalidate()
        c.wakeLeasers()
        ctx.logger.notice("campaign created", metadata: ["campaign": "\(p.name)", "by": "\(by)"])
        return created.view(members: 0)
    }

    /// Applies a change under the campaign's lock; NOT_FOUND when there is no such campaign.
    private func change(
        _ name: String, _ ctx: RPCContext, _ body: @escaping @Sendable (CampaignRecord) -> Result<CampaignRecord, RPCError>
    ) async throws -> CampaignView {
        let c = self.coordinator
        let by = Self.by(ctx)
        let outcome = try await c.db { try await c.store.updateCampaign(name: name, by: by, body) }
        guard let outcome else { throw RPCError(.notFound, "no campaign \(name)", details: ["campaign": .string(name)]) }
        let record = try outcome.get()
        c.settingsCache.invalidate()
        if record.status == .active { c.wakeLeasers() }
        return try await self.view(record)
    }

    func update(_ p: UpdateCampaign.Params, _ ctx: RPCContext) async throws -> CampaignView {
        let zones = try await self.coordinator.knownTimezones()
        let view = try await self.change(p.name, ctx) { current in
            guard current.status != .ended else { return .failure(Self.ended(current)) }
            var next = current
            if let title = p.title { next.title = title }
            if let starts = p.startsAt { next.startsAt = starts.value.flatMap(Timestamp.parse).map(Timestamp.string) }
            if let ends = p.endsAt {
                if current.isDefault, ends != .null {
                    return .failure(RPCError(.validationFailed, "the default campaign never ends: it takes no endsAt"))
                }
                next.endsAt = ends.value.flatMap(Timestamp.parse).map(Timestamp.string)
            }
            if let priority = p.priority { next.priority = priority }
            if let audience = p.audience { next.audience = audience }
            if p.startsAt != nil || p.endsAt != nil,
                let problem = Self.windowProblem(startsAt: next.startsAt, endsAt: p.endsAt == nil ? nil : next.endsAt)
            {
                return .failure(RPCError(.validationFailed, problem))
            }
            if let patch = p.settings {
                do {
                    next.settings = try AutomationHandlers.applying(
                        patch, to: current.settings, deployment: current.isDefault, zones: zones)
                } catch let e as RPCError {
                    return .failure(e)
                } catch {
                    return .failure(RPCError(.validationFailed, "invalid settings"))
                }
            }
            return .success(next)
        }
        ctx.logger.info("campaign changed", metadata: ["campaign": "\(p.name)", "by": "\(Self.by(ctx))"])
        return view
    }

    static func ended(_ c: CampaignRecord) -> RPCError {
        RPCError(.invalidState, "campaign \(c.name) has ended", details: ["campaign": .string(c.name)])
    }

    /// Pause, resume or end: idempotent (the same status again changes nothing); an ended
    /// campaign stays ended, and the default campaign cannot end.
    func setStatus(_ status: CampaignStatus, _ name: String, _ ctx: RPCContext) async throws -> CampaignView {
        let view = try await self.change(name, ctx) { current in
            if current.status == status { return .success(current) }
            guard current.status != .ended else { return .failure(Self.ended(current)) }
            if status == .ended && current.isDefault {
                return .failure(RPCError(.invalidState, "the default campaign cannot end (pause it instead)"))
            }
            var next = current
            next.status = status
            if status == .ended { next.endedReason = "ended" }
            return .success(next)
        }
        ctx.logger.notice("campaign \(status.rawValue.lowercased())", metadata: ["campaign": "\(name)", "by": "\(Self.by(ctx))"])
        return view
    }

    func members(_ p: CampaignMembersParams, remove: Bool) async throws -> CampaignMembersResult {
        let c = self.coordinator
        _ = try await c.campaigns(fresh: true)
        let campaign = try await c.campaign(p.name)
        guard campaign.status != .ended else { throw Self.ended(campaign) }
        let change = try await c.db {
            try await c.store.changeMembers(campaignId: campaign.id, refs: p.customerRefs, remove: remove)
        }
        let members = try await c.db { try await c.store.memberCounts([campaign.id]) }
        return CampaignMembersResult(
            changed: change.changed, unchanged: change.unchanged, unknown: change.unknown,
            members: members[campaign.id] ?? 0)
    }
}
