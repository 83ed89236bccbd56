import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

// Jobs for admins and scripts: `jobs.enqueue`, `jobs.list`, `jobs.get`, `jobs.tally`,
// `jobs.retry`, `jobs.cancel`.

extension Coordinator {
    /// Registers the job methods.
    func registerJobMethods(on r: GuardedRegistrar) {
        r.register(EnqueueJobs.self) { p, _ in try await self.enqueue(p) }
        r.register(ListJobs.self) { p, _ in
            if let c = p.cursor, Int64(c) == nil { throw RPCError(.invalidParams, "invalid params: bad cursor") }
            for (name, value) in [("updatedSince", p.updatedSince), ("updatedBefore", p.updatedBefore)] {
                if let value, Timestamp.parse(value) == nil {
                    throw RPCError(.validationFailed, "\(name) must be an RFC 3339 timestamp with a timezone")
                }
            }
            if let r = p.reason, r.isEmpty || r.utf8.count > 200 { throw RPCError(.validationFailed, "reason must be 1…200 bytes") }
            return try await self.db { try await self.store.listJobs(p) }
        }
        r.register(GetJob.self) { p, _ in
            guard (p.id == nil) != (p.queueJobId == nil) else {
                throw RPCError(.invalidParams, "invalid params: give exactly one of id and queueJobId")
            }
            guard let found = try await self.db({ try await self.store.getJob(id: p.id, queueJobId: p.queueJobId) })
            else { throw RPCError(.notFound, "no such job") }
            return found
        }
        r.register(TallyJobs.self) { _, _ in try await self.db { try await self.store.tally() } }
        r.register(RetryJobs.self) { p, ctx in
            guard (1...100).contains(p.attempts ?? 1) else { throw RPCError(.validationFailed, "attempts must be 1…100") }
            return try await self.adminChange(.retryRequested, ids: p.ids, retryBudget: p.attempts ?? 1, ctx)
        }
        r.register(CancelJobs.self) { p, ctx in try await self.adminChange(.cancelRequested, ids: p.ids, retryBudget: 1, ctx) }
    }

    func adminChange(
        _ event: JobStateMachine.Event, ids: [Int64], retryBudget: Int, _ ctx: RPCContext
    ) async throws -> AdminChangeResult {
        guard (1...1000).contains(ids.count) else { throw RPCError(.validationFailed, "give 1…1000 job ids") }
        let outcomes = try await self.db { try await self.store.admin(event, ids: ids, retryBudget: retryBudget) }
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
        if event == .retryRequested && !changed.isEmpty { self.wakeLeasers() }
        return AdminChangeResult(changed: changed, rejected: rejected)
    }

    func enqueue(_ p: EnqueueJobs.Params) async throws -> EnqueueJobs.Result {
        guard p.jobs.count <= self.configuration.maximumBulkItems else {
            throw RPCError(
                .limitExceeded, "at most \(self.configuration.maximumBulkItems) jobs per call",
                details: ["limit": "bulkItems", "maximum": .int(Int64(self.configuration.maximumBulkItems))])
        }
        var rejected: [ItemError] = []
        var accepted: [(index: Int, item: EnqueueItem)] = []
        for (i, var item) in p.jobs.enumerated() {
            let ref = item.customerRef ?? item.customerId.map { String($0) }
            if (item.customerId == nil) == (item.customerRef == nil) {
                rejected.append(ItemError(index: i, ref: ref, reason: "give exactly one of customerId and customerRef"))
                continue
            }
            if let m = item.maxAttempts, !(1...100).contains(m) {
                rejected.append(ItemError(index: i, ref: ref, reason: "maxAttempts must be 1…100"))
                continue
            }
            if let t = item.runAt, Timestamp.parse(t) == nil {
                rejected.append(ItemError(index: i, ref: ref, reason: "runAt must be an RFC 3339 time"))
                continue
            }
            if let q = item.queueJobId, q.isEmpty || q.utf8.count > 200 {
                rejected.append(ItemError(index: i, ref: ref, reason: "queueJobId must be 1…200 bytes"))
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
        let settings = try await self.settings()
        let rows = try await self.db {
            try await self.store.enqueue(accepted.map(\.item), defaultMaxAttempts: settings.maxAttempts)
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
        if enqueued > 0 { self.wakeLeasers() }
        return EnqueueJobs.Result(
            enqueued: enqueued, existing: existing, rejected: rejected.sorted { $0.index < $1.index }, jobIds: jobIds)
    }
}
