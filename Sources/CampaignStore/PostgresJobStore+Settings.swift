import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Settings

extension PostgresJobStore {
    public func timezoneNames() async throws -> Set<String> {
        try await self.pool.withConnection { conn in
            Set(try conn.rows(SQL.TimezoneNames()))
        }
    }

    /// The stored settings over the defaults.
    public func settings() async throws -> AutomationSettings {
        try await self.pool.withConnection { conn in
            var object: [String: JSONValue] = [:]
            for (key, value) in try conn.rows(SQL.SettingsAll()) {
                object[key] = JSONText.decode(value)
            }
            return AutomationSettingsCoding.merge(object, over: AutomationSettings())
        }
    }

    /// Writes the settings that differ, logging each change with `by`.
    public func writeSettings(_ new: AutomationSettings, by: String) async throws {
        let pairs = AutomationSettingsCoding.pairs(new)
        try await self.pool.withConnection { conn in
            try conn.run(SQL.SettingsWrite(pairs: pairs, by: by))
        }
    }
}
