import CampaignProtocol

// MARK: Automation settings

extension SQL {
    /// Every stored setting of every campaign, as campaign id, key and jsonb text.
    struct SettingsAll: Statement {
        static let sql = StatementSQL("settings_all", "SELECT campaign_id, key, value FROM campaign.automation_settings")
        static func decode(_ row: PQRow) throws -> (campaignId: Int64, key: String, value: String?) {
            (try row.int64("campaign_id"), try row.string("key"), row["value"])
        }
    }

    /// Writes a campaign's changed settings and logs each change with who made it (`by`), in one
    /// statement.
    struct SettingsWrite: Statement {
        static let sql = StatementSQL(
            "settings_write",
            """
            WITH input AS (
                SELECT * FROM unnest($keys::text[], $values::jsonb[]) AS t(key, value)
            ), old AS (
                SELECT s.key, s.value FROM campaign.automation_settings s JOIN input USING (key)
                WHERE s.campaign_id = $campaign_id::bigint
            ), written AS (
                INSERT INTO campaign.automation_settings (campaign_id, key, value, updated_by)
                SELECT $campaign_id::bigint, key, value, $by FROM input
                ON CONFLICT (campaign_id, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(),
                    updated_by = EXCLUDED.updated_by
                RETURNING key
            )
            INSERT INTO campaign.automation_settings_log (campaign_id, key, old_value, new_value, updated_by)
            SELECT $campaign_id::bigint, i.key, o.value, i.value, $by FROM input i LEFT JOIN old o USING (key)
            WHERE o.value IS DISTINCT FROM i.value
            """)
        /// Keys with their values as JSON text.
        var pairs: [(key: String, json: String)]
        var by: String
        var campaignId: Int64 = CampaignRecord.defaultID

        func bind(_ b: inout Bindings) {
            b.bind("campaign_id", self.campaignId)
            b.bind("keys", array: self.pairs.map { $0.key })
            b.bind("values", array: self.pairs.map { $0.json })
            b.bind("by", self.by)
        }
    }
}
