import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

// Customers: `customers.upsert`, `customers.get`, `customers.list`.

extension Coordinator {
    /// Registers the customer methods.
    func registerCustomerMethods(on r: GuardedRegistrar) {
        r.register(UpsertCustomers.self) { p, _ in try await self.upsertCustomers(p) }
        r.register(GetCustomer.self) { p, _ in
            guard (p.id == nil) != (p.externalRef == nil) else {
                throw RPCError(.invalidParams, "invalid params: give exactly one of id and externalRef")
            }
            guard let c = try await self.db({ try await self.store.getCustomer(id: p.id, externalRef: p.externalRef) })
            else { throw RPCError(.notFound, "no such customer") }
            return c
        }
        r.register(ListCustomers.self) { p, _ in
            if let c = p.cursor, Int64(c) == nil { throw RPCError(.invalidParams, "invalid params: bad cursor") }
            return try await self.db { try await self.store.listCustomers(p) }
        }
    }

    func upsertCustomers(_ p: UpsertCustomers.Params) async throws -> UpsertCustomers.Result {
        guard p.customers.count <= self.configuration.maximumBulkItems else {
            throw RPCError(
                .limitExceeded, "at most \(self.configuration.maximumBulkItems) customers per call",
                details: ["limit": "bulkItems", "maximum": .int(Int64(self.configuration.maximumBulkItems))])
        }
        var rejected: [ItemError] = []
        var valid: [ValidCustomer] = []
        var seen = Set<String>()
        let zones = try await self.knownTimezones()
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
        let (inserted, updated) = try await self.db { try await self.store.upsertCustomers(valid) }
        return UpsertCustomers.Result(inserted: inserted, updated: updated, rejected: rejected)
    }

    /// IANA names both Foundation and this PostgreSQL know (read once: a tz change needs a restart).
    ///
    /// Foundation is asked name by name (`TimeZone(identifier:)`), not through its list of known
    /// identifiers: on Linux that list lacks current names it does resolve, such as Asia/Kolkata.
    func knownTimezones() async throws -> Set<String> {
        if let z = self.timezones.withLockedValue({ $0 }) { return z }
        let pg = try await self.db { try await self.store.timezoneNames() }
        let known = pg.filter { TimeZone(identifier: $0) != nil }
        self.timezones.withLockedValue { $0 = known }
        return known
    }
}
