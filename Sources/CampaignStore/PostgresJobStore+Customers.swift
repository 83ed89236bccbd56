import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Customers

extension PostgresJobStore {
    /// Writes validated customers; returns (inserted, updated). An existing customer keeps its
    /// status unless the row names one (an import never resurrects an opted-out customer).
    public func upsertCustomers(_ customers: [ValidCustomer]) async throws -> (inserted: Int, updated: Int) {
        guard !customers.isEmpty else { return (0, 0) }
        // Rows that name no status keep the existing one; run the two kinds separately.
        let withStatus = customers.filter { $0.status != nil }
        let withoutStatus = customers.filter { $0.status == nil }
        return try await self.pool.transaction { conn in
            var inserted = 0
            var total = 0
            for (group, keep) in [(withStatus, false), (withoutStatus, true)] where !group.isEmpty {
                let rows = try conn.rows(SQL.CustomersUpsert(customers: group, keepStatus: keep))
                inserted += rows.filter { $0 }.count
                total += rows.count
            }
            return (inserted, total - inserted)
        }
    }

    public func getCustomer(id: Int64?, externalRef: String?) async throws -> CustomerView? {
        try await self.pool.withConnection { conn in
            try conn.rows(SQL.CustomersGet(id: id, externalRef: externalRef)).first
        }
    }

    public func listCustomers(_ p: ListCustomers.Params) async throws -> ListCustomers.Result {
        let limit = min(max(p.limit ?? 100, 1), 1000)
        return try await self.pool.withConnection { conn in
            let customers = try conn.rows(SQL.CustomersList(status: p.status, limit: limit, after: p.cursor))
            return ListCustomers.Result(
                customers: customers, nextCursor: customers.count == limit ? customers.last.map { String($0.id) } : nil)
        }
    }
}
