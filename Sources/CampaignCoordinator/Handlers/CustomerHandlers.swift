import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging

/// Customers: `customers.upsert`, `customers.get`, `customers.list`, `customers.explain`.
struct CustomerHandlers: MethodGroup {
    let coordinator: Coordinator

    func register(on router: RPCRouter) {
        let c = self.coordinator
        router.register(UpsertCustomers.self) { p, _ in try await self.upsertCustomers(p) }
        router.register(GetCustomer.self) { p, _ in
            guard let found = try await c.db({ try await c.store.getCustomer(id: p.id, externalRef: p.externalRef) })
            else { throw RPCError(.notFound, "no such customer") }
            return found
        }
        router.register(ListCustomers.self) { p, _ in try await c.db { try await c.store.listCustomers(p) } }
        router.register(ExplainCustomer.self) { p, _ in
            guard p.id != nil || p.externalRef != nil else { throw RPCError(.invalidParams, "invalid params: give id or externalRef") }
            var at: Date?
            if let text = p.at {
                guard let parsed = Timestamp.parse(text) else { throw RPCError(.validationFailed, "at must be an RFC 3339 time") }
                at = parsed
            }
            let campaign = try await c.campaign(p.campaign)
            let rules = campaign.settings.campaignRules(weight: campaign.priority)
            guard let found = try await c.db({
                try await c.store.explain(
                    id: p.id, externalRef: p.externalRef, campaignId: campaign.id, campaignName: campaign.name, rules: rules, at: at)
            }) else { throw RPCError(.notFound, "no such customer") }
            return found
        }
    }

    func upsertCustomers(_ p: UpsertCustomers.Params) async throws -> UpsertCustomers.Result {
        let c = self.coordinator
        guard p.customers.count <= c.configuration.maximumBulkItems else {
            throw RPCError(
                .limitExceeded, "at most \(c.configuration.maximumBulkItems) customers per call",
                details: ["limit": "bulkItems", "maximum": .int(Int64(c.configuration.maximumBulkItems))])
        }
        var rejected: [ItemError] = []
        var valid: [ValidCustomer] = []
        var seen = Set<String>()
        let zones = try await c.knownTimezones()
        for (i, c) in p.customers.enumerated() {
            switch CustomerValidation.validate(c, knownTimezones: zones) {
            case .failure(let reason):
                rejected.append(ItemError(index: i, ref: c.externalRef, reason: reason.message))
            case .success(let v):
                // A second row with the same ref in one call would be ambiguous: the first wins.
                guard seen.insert(v.externalRef).inserted else {
                    rejected.append(ItemError(index: i, ref: c.externalRef, reason: "duplicate externalRef in this call"))
                    continue
                }
                valid.append(v)
            }
        }
        let (inserted, updated) = try await c.db { try await c.store.upsertCustomers(valid) }
        return UpsertCustomers.Result(inserted: inserted, updated: updated, rejected: rejected)
    }
}
