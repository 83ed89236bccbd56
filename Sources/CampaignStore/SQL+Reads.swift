import CampaignCore
import CampaignProtocol

// MARK: Jobs: reads

extension SQL {
    /// The columns of ``JobView``.
    static let jobColumns = """
        j.id, j.queue_job_id, (SELECT name FROM campaign.campaigns WHERE id = j.campaign_id) AS campaign_name,
        j.customer_id, c.external_ref AS customer_ref, j.status, j.phase, j.attempts_made,
        j.max_attempts, j.priority, campaign.ts(j.run_at) AS run_at, j.reason, j.result, j.lease_owner,
        campaign.ts(j.lease_expires_at) AS lease_expires_at, campaign.ts(j.enqueued_at) AS enqueued_at,
        campaign.ts(j.started_at) AS started_at, campaign.ts(j.completed_at) AS completed_at,
        campaign.ts(j.failed_at) AS failed_at, campaign.ts(j.updated_at) AS updated_at
        """

    /// Newest first, optional filters, keyset paging on id (`before`: below this id).
    struct JobsList: Statement {
        static let sql = StatementSQL(
            "jobs_list",
            """
            SELECT \(jobColumns)
            FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
            WHERE ($status::campaign.campaign_job_status IS NULL OR j.status = $status::campaign.campaign_job_status)
              AND ($customer_ref::text IS NULL OR c.external_ref = $customer_ref::text)
              AND ($campaign_id::bigint IS NULL OR j.campaign_id = $campaign_id::bigint)
              AND ($before::bigint IS NULL OR j.id < $before::bigint)
              AND ($updated_since::timestamptz IS NULL OR j.updated_at >= $updated_since::timestamptz)
              AND ($updated_before::timestamptz IS NULL OR j.updated_at < $updated_before::timestamptz)
              AND ($reason::text IS NULL OR j.result ->> 'reason' = $reason::text)
              AND ($outcome::text IS NULL OR j.result ->> 'outcome' = $outcome::text)
            ORDER BY j.id DESC
            LIMIT $limit::int
            """)
        var filter: ListJobs.Params
        /// The id of `filter.campaign`.
        var campaignId: Int64?
        var limit: Int
        var before: Int64?

        func bind(_ b: inout Bindings) {
            b.bind("status", self.filter.status?.rawValue)
            b.bind("customer_ref", self.filter.customerRef)
            b.bind("campaign_id", self.campaignId)
            b.bind("before", self.before)
            b.bind("updated_since", self.filter.updatedSince)
            b.bind("updated_before", self.filter.updatedBefore)
            b.bind("reason", self.filter.reason)
            b.bind("outcome", self.filter.outcome?.rawValue)
            b.bind("limit", self.limit)
        }

        static func decode(_ row: PQRow) throws -> JobView { try JobView(row: row) }
    }

    /// One job by id or by queue job id.
    struct JobsGet: Statement {
        static let sql = StatementSQL(
            "jobs_get",
            """
            SELECT \(jobColumns)
            FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
            WHERE ($id::bigint IS NOT NULL AND j.id = $id::bigint)
               OR ($queue_job_id::text IS NOT NULL AND j.queue_job_id = $queue_job_id::text)
            """)
        var id: Int64?
        var queueJobId: String?

        func bind(_ b: inout Bindings) {
            b.bind("id", self.id)
            b.bind("queue_job_id", self.queueJobId)
        }

        static func decode(_ row: PQRow) throws -> JobView { try JobView(row: row) }
    }

    /// A job's call logs, by attempt.
    struct CallLogsForJob: Statement {
        static let sql = StatementSQL(
            "call_logs_for_job",
            """
            SELECT id, job_id, attempt, agent, provider, provider_call_id, idempotency_key,
                   campaign.ts(started_at) AS started_at, campaign.ts(ended_at) AS ended_at, outcome,
                   (extract(epoch FROM duration) * 1000)::bigint AS duration_ms, detail
            FROM campaign.call_logs WHERE job_id = $job_id::bigint ORDER BY attempt
            """)
        var jobId: Int64
        func bind(_ b: inout Bindings) { b.bind("job_id", self.jobId) }

        static func decode(_ r: PQRow) throws -> CallLogView {
            CallLogView(
                id: try r.int64("id"), jobId: try r.int64("job_id"), attempt: try r.int("attempt"),
                agent: try r.string("agent"), provider: try r.string("provider"),
                providerCallId: r["provider_call_id"], idempotencyKey: try r.string("idempotency_key"),
                startedAt: r["started_at"], endedAt: r["ended_at"],
                outcome: CallOutcome(rawValue: try r.string("outcome")) ?? .failed,
                durationMs: r.optionalInt("duration_ms"), detail: JSONText.decode(r["detail"]))
        }
    }

    /// Queue counts by campaign and status, completions since midnight in the default
    /// campaign's `timezone`, and jobs FAILED `outcome_unknown`, in one scan.
    struct JobsCountByStatus: Statement {
        static let sql = StatementSQL(
            "jobs_count_by_status",
            """
            SELECT campaign_id, status::text, count(*) AS n,
                   count(*) FILTER (WHERE status = 'COMPLETED'
                       AND completed_at >= (date_trunc('day', now() AT TIME ZONE $timezone) AT TIME ZONE $timezone))
                       AS today,
                   count(*) FILTER (WHERE status = 'FAILED' AND result ->> 'reason' = 'outcome_unknown') AS unknown
            FROM campaign.campaign_jobs GROUP BY campaign_id, status
            """)
        var timezone: String
        func bind(_ b: inout Bindings) { b.bind("timezone", self.timezone) }

        static func decode(_ row: PQRow) throws -> (campaignId: Int64, status: String, n: Int, today: Int, unknown: Int) {
            (
                try row.int64("campaign_id"), try row.string("status"), try row.int("n"), row.optionalInt("today") ?? 0,
                row.optionalInt("unknown") ?? 0
            )
        }
    }

    /// For each campaign with QUEUED jobs due now: how long the longest-waiting one has been due.
    struct JobsDueOldest: Statement {
        static let sql = StatementSQL(
            "jobs_due_oldest",
            """
            SELECT campaign_id, extract(epoch FROM now() - min(run_at))::float8 AS seconds
            FROM campaign.campaign_jobs WHERE status = 'QUEUED' AND run_at <= now()
            GROUP BY campaign_id
            """)

        static func decode(_ row: PQRow) throws -> (campaignId: Int64, seconds: Double) {
            (try row.int64("campaign_id"), row["seconds"].flatMap(Double.init) ?? 0)
        }
    }

    /// Counts by status and by the outcome (or reason) recorded in each job's result, of every
    /// campaign or of one (`campaign_id`).
    struct JobsTally: Statement {
        static let sql = StatementSQL(
            "jobs_tally",
            """
            SELECT status::text, coalesce(result ->> 'outcome', result ->> 'reason', '') AS outcome, count(*) AS n
            FROM campaign.campaign_jobs
            WHERE $campaign_id::bigint IS NULL OR campaign_id = $campaign_id::bigint
            GROUP BY 1, 2
            """)
        var campaignId: Int64?
        func bind(_ b: inout Bindings) { b.bind("campaign_id", self.campaignId) }

        static func decode(_ row: PQRow) throws -> (status: String, outcome: String, n: Int) {
            (try row.string("status"), row["outcome"] ?? "", try row.int("n"))
        }
    }

    /// Call logs, of every campaign or of one (`campaign_id`).
    struct CallLogsCount: Statement {
        static let sql = StatementSQL(
            "call_logs_count",
            """
            SELECT count(*) AS n FROM campaign.call_logs l
            WHERE $campaign_id::bigint IS NULL
               OR l.job_id IN (SELECT id FROM campaign.campaign_jobs WHERE campaign_id = $campaign_id::bigint)
            """)
        var campaignId: Int64?
        func bind(_ b: inout Bindings) { b.bind("campaign_id", self.campaignId) }
        static func decode(_ row: PQRow) throws -> Int { try row.int("n") }
    }

    /// ACTIVE jobs per lease owner, for the given owners (`agents.list`).
    struct LeasesByOwner: Statement {
        static let sql = StatementSQL(
            "leases_by_owner",
            """
            SELECT lease_owner, count(*) AS n FROM campaign.campaign_jobs
            WHERE status = 'ACTIVE' AND lease_owner = ANY($owners::text[])
            GROUP BY lease_owner
            """)
        var owners: [String]
        func bind(_ b: inout Bindings) { b.bind("owners", array: self.owners) }

        static func decode(_ row: PQRow) throws -> (owner: String, n: Int) {
            (try row.string("lease_owner"), try row.int("n"))
        }
    }

    /// The timezone names this server knows (customers' and the campaign's must be among them).
    struct TimezoneNames: Statement {
        static let sql = StatementSQL("timezone_names", "SELECT name FROM pg_timezone_names")
        static func decode(_ row: PQRow) throws -> String { try row.string("name") }
    }
}
