enum Migration0006OutcomeUnknown {
    /// Whether a FAILED job's call may have happened (`outcome_unknown`: its lease ran out while
    /// DIALING, or the agent said it could not learn the call's end) is a column, written with
    /// every transition from the state machine's decision, instead of being read back out of
    /// `result ->> 'reason'` each time a job is locked (issue 12). Adding a column with a constant
    /// default does not rewrite the table; only the FAILED jobs that are unknown are updated.
    static let migration = Migration(
        version: 6, name: "outcome_unknown",
        sql: #"""
            ALTER TABLE campaign.campaign_jobs ADD COLUMN outcome_unknown boolean NOT NULL DEFAULT false;
            UPDATE campaign.campaign_jobs SET outcome_unknown = true
            WHERE status = 'FAILED' AND result ->> 'reason' = 'outcome_unknown';
            """#)
}
