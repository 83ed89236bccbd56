// MARK: Jobs: reads

extension SQL {
    static let jobColumns = """
        j.id, j.queue_job_id, j.customer_id, c.external_ref AS customer_ref, j.status, j.phase, j.attempts_made,
        j.max_attempts, j.priority, campaign.ts(j.run_at) AS run_at, j.reason, j.result, j.lease_owner,
        campaign.ts(j.lease_expires_at) AS lease_expires_at, campaign.ts(j.enqueued_at) AS enqueued_at,
        campaign.ts(j.started_at) AS started_at, campaign.ts(j.completed_at) AS completed_at,
        campaign.ts(j.failed_at) AS failed_at, campaign.ts(j.updated_at) AS updated_at
        """

    /// Newest first, optional status and customer filters, keyset paging on id (`$4`: below this id).
    static let jobsList = SQLStatement(
        "jobs_list",
        """
        SELECT \(jobColumns)
        FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
        WHERE ($1::campaign.campaign_job_status IS NULL OR j.status = $1::campaign.campaign_job_status)
          AND ($2::text IS NULL OR c.external_ref = $2::text)
          AND ($4::bigint IS NULL OR j.id < $4::bigint)
          AND ($5::timestamptz IS NULL OR j.updated_at >= $5::timestamptz)
          AND ($6::timestamptz IS NULL OR j.updated_at < $6::timestamptz)
          AND ($7::text IS NULL OR j.result ->> 'reason' = $7::text)
          AND ($8::text IS NULL OR j.result ->> 'outcome' = $8::text)
        ORDER BY j.id DESC
        LIMIT $3::int
        """)

    static let jobsGet = SQLStatement(
        "jobs_get",
        """
        SELECT \(jobColumns)
        FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
        WHERE ($1::bigint IS NOT NULL AND j.id = $1::bigint) OR ($2::text IS NOT NULL AND j.queue_job_id = $2::text)
        """)

    static let callLogsForJob = SQLStatement(
        "call_logs_for_job",
        """
        SELECT id, job_id, attempt, agent, provider, provider_call_id, idempotency_key,
               campaign.ts(started_at) AS started_at, campaign.ts(ended_at) AS ended_at, outcome,
               (extract(epoch FROM duration) * 1000)::bigint AS duration_ms, detail
        FROM campaign.call_logs WHERE job_id = $1::bigint ORDER BY attempt
        """)

    /// Queue counts by status, and completions since midnight in the campaign timezone `$1`, in
    /// one scan.
    static let jobsCountByStatus = SQLStatement(
        "jobs_count_by_status",
        """
        SELECT status::text, count(*) AS n,
               count(*) FILTER (WHERE status = 'COMPLETED'
                   AND completed_at >= (date_trunc('day', now() AT TIME ZONE $1) AT TIME ZONE $1)) AS today
        FROM campaign.campaign_jobs GROUP BY status
        """)

    /// Counts by status and by the outcome (or reason) recorded in each job's result.
    static let jobsTally = SQLStatement(
        "jobs_tally",
        """
        SELECT status::text, coalesce(result ->> 'outcome', result ->> 'reason', '') AS outcome, count(*) AS n
        FROM campaign.campaign_jobs GROUP BY 1, 2
        """)

    static let callLogsCount = SQLStatement("call_logs_count", "SELECT count(*) AS n FROM campaign.call_logs")

    /// ACTIVE jobs per lease owner, for the given owners (`agents.list`).
    static let leasesByOwner = SQLStatement(
        "leases_by_owner",
        """
        SELECT lease_owner, count(*) AS n FROM campaign.campaign_jobs
        WHERE status = 'ACTIVE' AND lease_owner = ANY($1::text[])
        GROUP BY lease_owner
        """)

    /// The timezone names this server knows (customers' and the campaign's must be among them).
    static let timezoneNames = SQLStatement("timezone_names", "SELECT name FROM pg_timezone_names")
}
