import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Customers

extension PostgresJobStore {
    /// Writes validated customers; returns (inserted, updated).
    /// - Parameter keepStatus: when true, an existing customer keeps its status (an import never
    ///   resurrects an opted-out customer unless the row names a status).
    public func upsertCustomers(_ customers: [ValidCustomer]) async throws -> (inserted: Int, updated: Int) {
        guard !customers.isEmpty else { return (0, 0) }
        // Rows that name no status keep the existing one; run the two kinds separately.
        let withStatus = customers.filter { $0.status != nil }
        let withoutStatus = customers.filter { $0.status == nil }
        return try await self.pool.transaction { conn in
            var inserted = 0
            var total = 0
            for (group, keep) in [(withStatus, false), (withoutStatus, true)] where !group.isEmpty {
                let rows = try conn.execute(SQL.customersUpsert, [
                    PGArray.encode(group.map { $0.externalRef }),
                    PGArray.encode(group.map { $0.name }),
                    PGArray.encode(group.map { $0.phone }),
                    PGArray.encode(group.map { $0.timezone }),
                    PGArray.encode(group.map { $0.status?.rawValue }),
                    PGArray.encode(group.map { $0.attributesJSON }),
                    keep ? "true" : "false",
                ])
                inserted += rows.all.filter { $0.bool("inserted") }.count
                total += rows.count
            }
            return (inserted, total - inserted)
        }
    }

    public func getCustomer(id: Int64?, externalRef: String?) async throws -> CustomerView? {
        try await self.pool.withConnection { conn in
            let rows = try conn.execute(SQL.customersGet, [id.map { String($0) }, externalRef])
            return rows.count > 0 ? try CustomerView(row: rows.row(0)) : nil
        }
    }

    public func listCustomers(_ p: ListCustomers.Params) async throws -> ListCustomers.Result {
        let limit = min(max(p.limit ?? 100, 1), 1000)
        return try await self.pool.withConnection { conn in
            let rows = try conn.execute(SQL.customersList, [p.status?.rawValue, String(limit), p.cursor])
            let customers = try rows.all.map(CustomerView.init(row:))
            return ListCustomers.Result(
                customers: customers, nextCursor: customers.count == limit ? customers.last.map { String($0.id) } : nil)
        }
    }
}
