enum Migration0010CallLogTime {
    /// `calls.list` (issue 14) pages call logs newest first by the call's time — `started_at`, or
    /// `created_at` for a call reported without one — and id, and windows them by the same time:
    /// one index serves the order, the window and the cursor. (Built in the migration's
    /// transaction: writes of call logs wait for it once, at the upgrade.)
    static let migration = Migration(
        version: 10, name: "call_log_time",
        sql: #"""
            CREATE INDEX call_logs_by_time ON campaign.call_logs ((coalesce(started_at, created_at)), id);
            """#)
}
