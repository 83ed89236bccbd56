import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation

/// The suppression list: `suppressions.add`, `suppressions.remove`, `suppressions.list`; and
/// `audit.summary`, the law's audit of a time window.
struct SuppressionHandlers: MethodGroup {
    let coordinator: Coordinator

    func register(on router: RPCRouter) {
        let c = self.coordinator
        router.register(AddSuppressions.self) { p, ctx in try await self.add(p, by: CampaignHandlers.by(ctx), ctx) }
        router.register(RemoveSuppressions.self) { p, ctx in
            try self.checkBulk(p.phones.count, what: "numbers")
            let phones = Set(p.phones.compactMap(PhoneNumber.normalize)).sorted()
            let by = CampaignHandlers.by(ctx)
            let removed = Set(try await c.db { try await c.store.removeSuppressions(phones, by: by) })
            // In the order given: numbers that were not on the list, and what is not a number.
            let notFound = p.phones.filter { PhoneNumber.normalize($0).map { !removed.contains($0) } ?? true }
            if !removed.isEmpty { ctx.logger.notice("suppressions.remove", metadata: ["removed": "\(removed.count)", "by": "\(by)"]) }
            return RemoveSuppressions.Result(removed: removed.count, notFound: notFound)
        }
        self.registerAudit(on: router)
        router.register(ListSuppressions.self) { p, _ in
            var phone: String?
            if let given = p.phone {
                guard let normal = PhoneNumber.normalize(given) else {
                    throw RPCError(.validationFailed, "phone is not a valid international (E.164) number")
                }
                phone = normal
            }
            let limit = min(max(p.limit ?? 100, 1), 1000)
            return try await c.db { try await c.store.listSuppressions(phone: phone, limit: limit, after: p.cursor) }
        }
    }

    func registerAudit(on router: RPCRouter) {
        let c = self.coordinator
        router.register(AuditSummary.self) { p, _ in
            guard let since = Timestamp.parse(p.since), let until = Timestamp.parse(p.until) else {
                throw RPCError(.validationFailed, "since and until must be RFC 3339 times")
            }
            let limit = min(max(p.limit ?? 100, 1), 1000)
            return try await c.db {
                try await c.store.auditSummary(since: Timestamp.string(since), until: Timestamp.string(until), limit: limit)
            }
        }
    }

    func checkBulk(_ n: Int, what: String) throws {
        let maximum = self.coordinator.configuration.maximumBulkItems
        guard n <= maximum else {
            throw RPCError(
                .limitExceeded, "at most \(maximum) \(what) per call",
                details: ["limit": "bulkItems", "maximum": .int(Int64(maximum))])
        }
    }

    func add(_ p: AddSuppressions.Params, by: String, _ ctx: RPCContext) async throws -> AddSuppressions.Result {
        try self.checkBulk(p.suppressions.count, what: "suppressions")
        var rejected: [ItemError] = []
        var valid: [(phone: String, reason: String, source: String, expiresAt: String?)] = []
        var seen = Set<String>()
        for (i, s) in p.suppressions.enumerated() {
            switch Self.validate(s) {
            case .failure(let problem): rejected.append(ItemError(index: i, ref: s.phone, reason: problem.message))
            case .success(let v):
                // One row per number: a second one in the same call would be ambiguous (the first wins).
                guard seen.insert(v.phone).inserted else {
                    rejected.append(ItemError(index: i, ref: s.phone, reason: "duplicate phone in this call"))
                    continue
                }
                valid.append(v)
            }
        }
        let c = self.coordinator
        let (added, updated) = try await c.db { try await c.store.addSuppressions(valid, by: by) }
        if added + updated > 0 {
            ctx.logger.notice("suppressions.add", metadata: ["added": "\(added)", "updated": "\(updated)", "by": "\(by)"])
        }
        return AddSuppressions.Result(added: added, updated: updated, rejected: rejected)
    }

    struct Problem: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    /// One entry checked and normalised: the number as E.164, the defaults filled in.
    static func validate(_ s: SuppressionInput) -> Result<(phone: String, reason: String, source: String, expiresAt: String?), Problem> {
        guard let phone = PhoneNumber.normalize(s.phone) else { return .failure(Problem("phone is not a valid international (E.164) number")) }
        let reason = (s.reason ?? "manual").trimmingCharacters(in: .whitespaces)
        let source = (s.source ?? "api").trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(reason.utf8.count), (1...200).contains(source.utf8.count) else {
            return .failure(Problem("reason and source must be 1…200 bytes"))
        }
        var expires: String?
        if let text = s.expiresAt {
            guard let at = Timestamp.parse(text) else { return .failure(Problem("expiresAt must be an RFC 3339 time")) }
            expires = Timestamp.string(at)
        }
        return .success((phone, reason, source, expires))
    }
}
