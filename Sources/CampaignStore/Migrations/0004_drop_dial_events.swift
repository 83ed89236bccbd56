enum Migration0004DropDialEvents {
    /// The per-call `dial_events` row is gone (issue 11): since migration 0003 nothing counts it
    /// (the pre-dial check and `automation.run` sum the counters), and writing it was a tenth of
    /// PostgreSQL's CPU per drained job (an insert, its index and a foreign-key check). A call
    /// start stays recorded where it always was: the job turns DIALING with its idempotency key
    /// and `started_at`, its call log has the call's own start, and the counters count it.
    static let migration = Migration(
        version: 4, name: "drop_dial_events",
        sql: #"""
            DROP TABLE campaign.dial_events;
            """#)
}
