// MARK: Jobs: enqueue

extension SQL {
    /// Creates jobs for the given customers (by id or external ref), idempotent on `queue_job_id`.
    /// Answers one row per input index: the customer it resolved to (NULL: unknown), the job id,
    /// and whether this statement created it.
    static let jobsEnqueue = SQLStatement(
        "jobs_enqueue",
        """
        WITH input AS (
            SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::int[],
                                 $7::int[], $8::timestamptz[])
                AS t(idx, customer_id, customer_ref, queue_job_id, reason, priority, max_attempts, run_at)
        ), resolved AS (
            -- `first`: the first item of the call with its key (a repeated key in one call creates one job).
            SELECT i.*, c.id AS cid,
                   row_number() OVER (PARTITION BY i.queue_job_id, c.id IS NOT NULL ORDER BY i.idx) = 1 AS first
            FROM input i
            LEFT JOIN campaign.customers c
                ON c.id = coalesce(i.customer_id,
                                   (SELECT id FROM campaign.customers WHERE external_ref = i.customer_ref))
        ), inserted AS (
            INSERT INTO campaign.campaign_jobs (queue_job_id, customer_id, reason, priority, max_attempts, run_at)
            SELECT queue_job_id, cid, reason, coalesce(priority, 0), coalesce(max_attempts, $9::int),
                   coalesce(run_at, now())
            FROM resolved WHERE cid IS NOT NULL
            ON CONFLICT (queue_job_id) DO NOTHING
            RETURNING id, queue_job_id
        )
        SELECT r.idx, r.cid, coalesce(ins.id, existing.id) AS job_id, (ins.id IS NOT NULL AND r.first) AS created
        FROM resolved r
        LEFT JOIN inserted ins ON ins.queue_job_id = r.queue_job_id
        LEFT JOIN campaign.campaign_jobs existing ON existing.queue_job_id = r.queue_job_id
        ORDER BY r.idx
        """)
}
