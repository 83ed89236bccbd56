import CampaignCore
import Foundation
import Logging

// MARK: Jurisdictions

extension PostgresJobStore {
    /// Brings the database's copy of the law up to the shipped table (``Jurisdictions``): its
    /// floors, rewritten when the version changed (and with them every customer's jurisdiction
    /// forgotten), then the jurisdiction of every customer that has none yet, in slices of
    /// `slice` customers, each its own transaction (a crash leaves the rest for the next start;
    /// until then they are judged by the strictest floor). Answers the customers filled in.
    @discardableResult
    public func syncJurisdictions(slice: Int = 5000) async throws -> Int {
        let version = Jurisdictions.version
        let floors = Jurisdictions.everyFloor
        try await self.pool.transaction(limit: .long) { conn in
            try conn.exec(SQL.migrationsLock)
            let state = try conn.row(SQL.JurisdictionFloorsState(version: version))
            guard state.current != floors.count || state.stale != 0 else { return }
            if state.stale != 0 || state.current != 0 { try conn.run(SQL.JurisdictionsForget()) }
            for (key, floor) in floors { try conn.run(SQL.JurisdictionFloorInsert(key: key, floor: floor, version: version)) }
        }
        var filled = 0
        var after: Int64 = 0
        while true {
            let from = after
            let (n, last) = try await self.pool.transaction(limit: .long) { conn -> (Int, Int64?) in
                let rows = try conn.rows(SQL.CustomersJurisdictionUnknown(after: from, limit: slice))
                guard let last = rows.last else { return (0, nil) }
                try conn.run(SQL.CustomersSetJurisdiction(rows: rows.map { r in
                    (r.id, r.phone, r.region, Jurisdictions.key(phone: r.phone, stated: r.region))
                }))
                return (rows.count, last.id)
            }
            guard let last else { break }
            filled += n
            after = last
        }
        if filled > 0 {
            self.logger.info("jurisdictions worked out", metadata: ["customers": "\(filled)", "rules": "\(version)"])
        }
        return filled
    }
}
