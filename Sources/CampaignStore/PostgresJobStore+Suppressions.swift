import CampaignCore
import CampaignProtocol
import Foundation

// MARK: The suppression list

extension PostgresJobStore {
    /// Adds or updates validated entries (E.164 numbers, one each) as `by`; every change is
    /// recorded for the audit in the same statement.
    public func addSuppressions(
        _ entries: [(phone: String, reason: String, source: String, expiresAt: String?)], by: String
    ) async throws -> (added: Int, updated: Int) {
        guard !entries.isEmpty else { return (0, 0) }
        return try await self.pool.transaction { conn in try conn.row(SQL.SuppressionsAdd(entries: entries, by: by)) }
    }

    /// Removes numbers (E.164) as `by`; answers those that were on the list.
    public func removeSuppressions(_ phones: [String], by: String) async throws -> [String] {
        guard !phones.isEmpty else { return [] }
        return try await self.pool.transaction { conn in try conn.rows(SQL.SuppressionsRemove(phones: phones, by: by)) }
    }

    public func listSuppressions(phone: String?, limit: Int, after: String?) async throws -> ListSuppressions.Result {
        try await self.pool.withConnection { conn in
            let rows = try conn.rows(SQL.SuppressionsList(phone: phone, after: after, limit: limit))
            return ListSuppressions.Result(suppressions: rows, nextCursor: rows.count == limit ? rows.last?.phone : nil)
        }
    }

    /// The law's audit of `[since, until)` (RFC 3339 texts, validated by the caller).
    public func auditSummary(since: String, until: String, limit: Int) async throws -> AuditSummary.Result {
        try await self.pool.withConnection { conn in
            let refusals = try conn.rows(SQL.AuditRefusals(since: since, until: until))
            let changes = try conn.rows(SQL.AuditSuppressionChanges(since: since, until: until, limit: limit))
            let total = changes.first?.1 ?? 0  // each row carries the window's count
            return AuditSummary.Result(
                refusalsByRule: Dictionary(refusals, uniquingKeysWith: +), suppressionChanges: changes.map(\.0),
                suppressionChangesTotal: total)
        }
    }
}
