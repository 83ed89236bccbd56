import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Settings

extension PostgresJobStore {
    public func timezoneNames() async throws -> Set<String> {
        try await self.pool.withConnection { conn in
            Set(try conn.execute(SQL.timezoneNames).all.map { try $0.string("name") })
        }
    }

    /// The stored settings over the defaults.
    public func settings() async throws -> AutomationSettings {
        try await self.pool.withConnection { conn in
            var object: [String: JSONValue] = [:]
            for r in try conn.execute(SQL.settingsAll).all {
                object[try r.string("key")] = JSONText.decode(r["value"])
            }
            return AutomationSettingsCoding.merge(object, over: AutomationSettings())
        }
    }

    /// Writes the settings that differ, logging each change with `by`.
    public func writeSettings(_ new: AutomationSettings, by: String) async throws {
        let pairs = AutomationSettingsCoding.pairs(new)
        try await self.pool.withConnection { conn in
            try conn.execute(SQL.settingsWrite, [
                PGArray.encode(pairs.map { $0.key }), PGArray.encode(pairs.map { $0.json }), by,
            ])
        }
    }
}
