import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging

/// Jobs for admins and scripts: `jobs.enqueue`, `jobs.list`, `jobs.get`, `jobs.tally`,
/// `jobs.retry`, `jobs.cancel`.
struct JobHandlers: MethodGroup {
    let coordinator: Coordinator

    func register(on router: RPCRouter) {
        let c = self.coordinator
        router.register(EnqueueJobs.self) { p, _ in try await self.enqueue(p) }
        router.register(ListJobs.self) { p, _ in
            let campaign: Int64? = if let name = p.campaign { try await c.campaign(name).id } else { nil }
            return try await c.db { try await c.store.listJobs(p, campaignId: campaign) }
        }
        router.register(GetJob.self) { p, _ in
            guard let found = try await c.db({ try await c.store.getJob(id: p.id, queueJobId: p.queueJobId) })
            else { throw RPCError(.notFound, "no such job") }
            return found
        }
        router.register(TallyJobs.self) { p, _ in
            let campaign: Int64? = if let name = p.campaign { try await c.campaign(name).id } else { nil }
            return try await c.db { try await c.store.tally(campaignId: campaign) }
        }
        router.register(RetryJobs.self) { p, ctx in
            try await self.adminChange(.retryRequested, ids: p.ids, retryBudget: p.attempts ?? 1, ctx)
        }
        router.register(CancelJobs.self) { p, ctx in try await self.adminChange(.cancelRequested, ids: p.ids, retryBudget: 1, ctx) }
    }

    func adminChange(
        _ event: JobStateMachine.Event, ids: [Int64], retryBudget: Int, _ ctx: RPCContext
    ) async throws -> AdminChangeResult {
        let c = self.coordinator
        let outcomes = try await c.db { try await c.store.admin(event, ids: ids, retryBudget: retryBudget) }
        let result = Self.result(ids: ids, outcomes)
        let verb = event == .retryRequested ? "retried" : "cancelled"
        ctx.logger.notice(
            "jobs \(verb) by an admin",
            metadata: ["jobs": "\(result.changed.count)", "by": "\(ctx.peer.map { "uid:\($0.uid)" } ?? "unknown")"])
        if event == .retryRequested && !result.changed.isEmpty { c.wakeLeasers() }
        return result
    }

    /// What an admin change did to each job, in the order asked.
    static func result(ids: [Int64], _ outcomes: [Int64: PostgresJobStore.AdminOutcome]) -> AdminChangeResult {
        var changed: [Int64] = []
        var rejected: [JobRefusal] = []
        for id in ids {
            switch outcomes[id] {
            case .changed?: changed.append(id)
            case .rejected(let status)?: rejected.append(JobRefusal(id: id, status: status, code: RPCErrorCode.invalidState.name))
            case .notFound?, nil: rejected.append(JobRefusal(id: id, status: nil, code: RPCErrorCode.notFound.name))
            }
        }
        return AdminChangeResult(changed: changed, rejected: rejected)
    }

    func enqueue(_ p: EnqueueJobs.Params) async throws -> EnqueueJobs.Result {
        let c = self.coordinator
        guard p.jobs.count <= c.configuration.maximumBulkItems else {
            throw RPCError(
                .limitExceeded, "at most \(c.configuration.maximumBulkItems) jobs per call",
                details: ["limit": "bulkItems", "maximum": .int(Int64(c.configuration.maximumBulkItems))])
        }
        var rejected: [ItemError] = []
        var accepted: [(index: Int, item: EnqueueItem, campaign: Int64)] = []
        var book = try await c.campaigns()
        if p.jobs.contains(where: { $0.campaign.map { book[$0] == nil } ?? false }) {
            book = try await c.campaigns(fresh: true)  // a campaign created since the last read
        }
        for (i, var item) in p.jobs.enumerated() {
            let ref = item.customerRef ?? item.customerId.map { String($0) }
            let campaign = item.campaign.map { book[$0] } ?? book.default
            guard let campaign else {
                rejected.append(ItemError(index: i, ref: ref, reason: "unknown campaign \(item.campaign ?? "")"))
                continue
            }
            if campaign.status == .ended {
                rejected.append(ItemError(index: i, ref: ref, reason: "campaign \(campaign.name) has ended"))
                continue
            }
            if (item.customerId == nil) == (item.customerRef == nil) {
                rejected.append(ItemError(index: i, ref: ref, reason: "give exactly one of customerId and customerRef"))
                continue
            }
            if let m = item.maxAttempts, !ParamLimits.attempts.contains(m) {
                rejected.append(ItemError(index: i, ref: ref, reason: "maxAttempts must be \(ParamLimits.attempts.wording)"))
                continue
            }
            if let t = item.runAt, Timestamp.parse(t) == nil {
                rejected.append(ItemError(index: i, ref: ref, reason: "runAt must be an RFC 3339 time"))
                continue
            }
            if let q = item.queueJobId, !ParamLimits.queueJobIdBytes.contains(q.utf8.count) {
                rejected.append(ItemError(index: i, ref: ref, reason: "queueJobId must be \(ParamLimits.queueJobIdBytes.wording) bytes"))
                continue
            }
            if let q = item.queueJobId, AutomaticQueueJobID.hasForm(q) {
                rejected.append(ItemError(
                    index: i, ref: ref, reason: "queueJobId of the form <ref>:<YYYY-MM-DD> is reserved for automatic jobs"))
                continue
            }
            if item.queueJobId == nil { item.queueJobId = "manual:" + UUID().uuidString.lowercased() }
            // The campaign's own number of attempts, unless the item says.
            item.maxAttempts = item.maxAttempts ?? campaign.settings.maxAttempts
            accepted.append((i, item, campaign.id))
        }
        let defaultAttempts = book.default.settings.maxAttempts
        let rows = try await c.db {
            try await c.store.enqueue(
                accepted.map(\.item), campaignIds: accepted.map(\.campaign), defaultMaxAttempts: defaultAttempts)
        }
        var jobIds = [Int64?](repeating: nil, count: p.jobs.count)
        var enqueued = 0
        var existing = 0
        for row in rows {
            let original = accepted[row.index]
            if row.customerFound && row.campaignEnded {
                // Ended since this coordinator last read the campaigns.
                let name = book[id: original.campaign]?.name ?? "?"
                rejected.append(ItemError(
                    index: original.index, ref: original.item.customerRef ?? original.item.customerId.map { String($0) },
                    reason: "campaign \(name) has ended"))
                continue
            }
            guard row.customerFound, let jobId = row.jobId else {
                rejected.append(ItemError(
                    index: original.index, ref: original.item.customerRef ?? original.item.customerId.map { String($0) },
                    reason: "unknown customer"))
                continue
            }
            jobIds[original.index] = jobId
            if row.created { enqueued += 1 } else { existing += 1 }
        }
        if enqueued > 0 { c.wakeLeasers() }
        return EnqueueJobs.Result(
            enqueued: enqueued, existing: existing, rejected: rejected.sorted { $0.index < $1.index }, jobIds: jobIds)
    }
}
