enum Migration0012Retention {
    /// Retention (issue 14): finished jobs may be deleted while their call logs stay (the
    /// compliance record), so a call log no longer needs its job.
    ///
    /// - No foreign key from a call log to its job.
    /// - A call log keeps its job's campaign (`calls.list` filters and names it without the job).
    /// - Nothing else is added to the hot path: the pruner finds finished jobs by walking the
    ///   primary key in bounded slices, not through a new index every completion would write.
    static let migration = Migration(
        version: 12, name: "retention",
        sql: #"""
            ALTER TABLE campaign.call_logs DROP CONSTRAINT call_logs_job_id_fkey;
            ALTER TABLE campaign.call_logs ADD COLUMN campaign_id bigint;
            UPDATE campaign.call_logs l SET campaign_id = j.campaign_id
            FROM campaign.campaign_jobs j WHERE j.id = l.job_id;
            UPDATE campaign.call_logs SET campaign_id = 1 WHERE campaign_id IS NULL;
            ALTER TABLE campaign.call_logs ALTER COLUMN campaign_id SET NOT NULL;
            """#)
}
