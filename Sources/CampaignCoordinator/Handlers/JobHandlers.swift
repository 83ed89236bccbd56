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
        router.register(ListJobs.self) { p, _ in try await c.db { try await c.store.listJobs(p) } }
        router.register(GetJob.self) { p, _ in
            guard let found = try await c.db({ try await c.store.getJob(id: p.id, queueJobId: p.queueJobId) })
            else { throw RPCError(.notFound, "no such job") }
            return found
        }
        router.register(TallyJobs.self) { _, _ in try await c.db { try await c.store.tally() } }
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
        var changed: [Int64] = []
        var rejected: [JobRefusal] = []
        for id in ids {
            switch outcomes[id] {
            case .changed?: changed.append(id)
            case .rejected(let status)?: rejected.append(JobRefusal(id: id, status: status, code: RPCErrorCode.invalidState.name))
            case .notFound?, nil: rejected.append(JobRefusal(id: id, status: nil, code: RPCErrorCode.notFound.name))
            }
        }
        let verb = event == .retryRequested ? "retried" : "cancelled"
        ctx.logger.notice(
            "jobs \(verb) by an admin",
            metadata: ["jobs": "\(changed.count)", "by": "\(ctx.peer.map { "uid:\($0.uid)" } ?? "unknown")"])
        if event == .retryRequested && !changed.isEmpty { c.wakeLeasers() }
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
        var accepted: [(index: Int, item: EnqueueItem)] = []
        for (i, var item) in p.jobs.enumerated() {
            let ref = item.customerRef ?? item.customerId.map { String($0) }
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
            accepted.append((i, item))
        }
        let settings = try await c.settings()
        let rows = try await c.db {
            try await c.store.enqueue(accepted.map(\.item), defaultMaxAttempts: settings.maxAttempts)
        }
        var jobIds = [Int64?](repeating: nil, count: p.jobs.count)
        var enqueued = 0
        var existing = 0
        for row in rows {
            let original = accepted[row.index]
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
