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

    /// A campaign's stored settings over the defaults (the default campaign's when none is named).
    public func settings(campaignId: Int64 = CampaignRecord.defaultID) async throws -> AutomationSettings {
        try await self.pool.withConnection { conn in
            let all = try Self.settingsByCampaign(conn)
            return all[campaignId] ?? all[CampaignRecord.defaultID] ?? AutomationSettings()
        }
    }

    /// Writes a campaign's settings that differ, logging each change with `by` (another
    /// campaign than the default stores all but the deployment's own).
    public func writeSettings(_ new: AutomationSettings, by: String, campaignId: Int64 = CampaignRecord.defaultID) async throws {
        let pairs = Self.campaignPairs(new, id: campaignId)
        try await self.pool.withConnection { conn in
            try conn.run(SQL.SettingsWrite(pairs: pairs, by: by, campaignId: campaignId))
        }
    }
}
