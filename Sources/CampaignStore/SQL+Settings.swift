// MARK: Automation settings

extension SQL {
    static let settingsAll = SQLStatement("settings_all", "SELECT key, value FROM campaign.automation_settings")

    /// Writes changed settings and logs each change with who made it, in one statement.
    static let settingsWrite = SQLStatement(
        "settings_write",
        """
        WITH input AS (
            SELECT * FROM unnest($1::text[], $2::jsonb[]) AS t(key, value)
        ), old AS (
            SELECT s.key, s.value FROM campaign.automation_settings s JOIN input USING (key)
        ), written AS (
            INSERT INTO campaign.automation_settings (key, value, updated_by)
            SELECT key, value, $3 FROM input
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(),
                updated_by = EXCLUDED.updated_by
            RETURNING key
        )
        INSERT INTO campaign.automation_settings_log (key, old_value, new_value, updated_by)
        SELECT i.key, o.value, i.value, $3 FROM input i LEFT JOIN old o USING (key)
        WHERE o.value IS DISTINCT FROM i.value
        """)
}
