enum Migration0016Reconcile {
    /// Settling unknown outcomes from the provider (issue 16).
    ///
    /// - `reconcile_at`: a job FAILED `outcome_unknown` is not handed out for a lookup before
    ///   this instant (set one interval ahead at each handout; NULL: never looked up yet).
    /// - `reconcile_until`: an admin's `jobs.reconcileNow` keeps the lookups going until then,
    ///   past the window of `reconcileWindowSeconds` after the job failed.
    /// - `lookups`: lookups handed out for the job so far.
    /// - `campaign_jobs_unknown`: the jobs whose outcome is unknown, a few in a hundred, found by
    ///   `jobs.reconcile` without a scan. Indexed by id, so that only `outcome_unknown` (rarely
    ///   changed) is an indexed column of the predicate: a report's other writes stay HOT.
    static let migration = Migration(
        version: 16, name: "reconcile",
        sql: #"""
            ALTER TABLE campaign.campaign_jobs
                ADD COLUMN reconcile_at timestamptz,
                ADD COLUMN reconcile_until timestamptz,
                ADD COLUMN lookups integer NOT NULL DEFAULT 0;
            CREATE INDEX campaign_jobs_unknown ON campaign.campaign_jobs (id) WHERE outcome_unknown;
            """#)
}
