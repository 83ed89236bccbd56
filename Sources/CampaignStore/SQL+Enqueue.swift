import CampaignProtocol

// MARK: Jobs: enqueue

extension SQL {
    /// Creates jobs for the given customers (by id or external ref) in the given campaigns,
    /// idempotent on `queue_job_id`.
    /// Answers one row per input index: the customer it resolved to (NULL: unknown), the job id,
    /// and whether this statement created it.
    struct JobsEnqueue: Statement {
        static let sql = StatementSQL(
            "jobs_enqueue",
            """
            WITH input AS (
                SELECT * FROM unnest($indexes::int[], $customer_ids::bigint[], $customer_refs::text[],
                                     $queue_job_ids::text[], $reasons::text[], $priorities::int[],
                                     $max_attempts::int[], $run_ats::timestamptz[], $campaign_ids::bigint[])
                    AS t(idx, customer_id, customer_ref, queue_job_id, reason, priority, max_attempts, run_at, campaign_id)
            ), resolved AS (
                -- `first`: the first item of the call with its key (a repeated key in one call creates one job).
                SELECT i.*, c.id AS cid,
                       row_number() OVER (PARTITION BY i.queue_job_id, c.id IS NOT NULL ORDER BY i.idx) = 1 AS first,
                       -- Read here, not from a coordinator's cache: a campaign ended a moment ago takes no job.
                       (SELECT k.status = 'ENDED' FROM campaign.campaigns k WHERE k.id = coalesce(i.campaign_id, 1)) AS ended
                FROM input i
                LEFT JOIN campaign.customers c
                    ON c.id = coalesce(i.customer_id,
                                       (SELECT id FROM campaign.customers WHERE external_ref = i.customer_ref))
            ), inserted AS (
                INSERT INTO campaign.campaign_jobs (queue_job_id, customer_id, reason, priority, max_attempts, run_at,
                                                    campaign_id)
                SELECT queue_job_id, cid, reason, coalesce(priority, 0), coalesce(max_attempts, $default_max_attempts::int),
                       coalesce(run_at, now()), coalesce(campaign_id, 1)
                FROM resolved WHERE cid IS NOT NULL AND NOT ended
                ON CONFLICT (queue_job_id) DO NOTHING
                RETURNING id, queue_job_id
            )
            SELECT r.idx, r.cid, r.ended, coalesce(ins.id, existing.id) AS job_id, (ins.id IS NOT NULL AND r.first) AS created
            FROM resolved r
            LEFT JOIN inserted ins ON ins.queue_job_id = r.queue_job_id
            LEFT JOIN campaign.campaign_jobs existing ON existing.queue_job_id = r.queue_job_id
            ORDER BY r.idx
            """)
        var items: [EnqueueItem]
        /// Each item's campaign (nil: all the default campaign's).
        var campaignIds: [Int64]?
        var defaultMaxAttempts: Int

        func bind(_ b: inout Bindings) {
            b.bind("indexes", array: Array(0..<self.items.count))
            b.bind("customer_ids", array: self.items.map { $0.customerId })
            b.bind("customer_refs", array: self.items.map { $0.customerRef })
            b.bind("queue_job_ids", array: self.items.map { $0.queueJobId })
            b.bind("reasons", array: self.items.map { $0.reason })
            b.bind("priorities", array: self.items.map { $0.priority })
            b.bind("max_attempts", array: self.items.map { $0.maxAttempts })
            b.bind("run_ats", array: self.items.map { $0.runAt })
            b.bind("campaign_ids", array: self.campaignIds ?? self.items.map { _ in CampaignRecord.defaultID })
            b.bind("default_max_attempts", self.defaultMaxAttempts)
        }

        static func decode(_ row: PQRow) throws -> EnqueueRow {
            EnqueueRow(
                index: try row.int("idx"), customerFound: row["cid"] != nil,
                jobId: row["job_id"].flatMap { Int64($0) }, created: row.bool("created"), campaignEnded: row.bool("ended"))
        }
    }
}
