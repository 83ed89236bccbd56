import CampaignCore
import CampaignProtocol
import Foundation

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

    /// The columns of a ``CallLogView`` (with ``callLogTables``), and the call's time in
    /// microseconds (`at_us`: `calls.list`'s order and cursor).
    static let callLogColumns = """
        l.id, l.job_id, l.attempt, l.agent, l.provider, l.provider_call_id, l.idempotency_key,
        campaign.ts(l.started_at) AS started_at, campaign.ts(l.ended_at) AS ended_at, l.outcome,
        (extract(epoch FROM l.duration) * 1000)::bigint AS duration_ms, l.detail,
        campaign.ts(l.created_at) AS created_at, k.name AS campaign, c.external_ref AS customer_ref,
        (extract(epoch FROM coalesce(l.started_at, l.created_at)) * 1000000)::bigint AS at_us
        """

    static let callLogTables = """
        campaign.call_logs l JOIN campaign.campaigns k ON k.id = l.campaign_id
        JOIN campaign.customers c ON c.id = l.customer_id
        """

    /// A job's call logs, by attempt.
    struct CallLogsForJob: Statement {
        static let sql = StatementSQL(
            "call_logs_for_job",
            """
            SELECT \(callLogColumns) FROM \(callLogTables)
            WHERE l.job_id = $job_id::bigint ORDER BY l.attempt
            """)
        var jobId: Int64
        func bind(_ b: inout Bindings) { b.bind("job_id", self.jobId) }

        static func decode(_ r: PQRow) throws -> CallLogView { try CallLogsList.decode(r).call }
    }

    /// Call logs newest first by the call's time (`started_at`, or `created_at` for a call
    /// logged without one) and id, in `[since, until)`, after the cursor, filtered. The time
    /// bounds and the cursor are always given (open ones as ±infinity), so all three are
    /// conditions on the index `call_logs_by_time` (migration 0010), whatever plan is cached.
    struct CallLogsList: Statement {
        static let sql = StatementSQL(
            "call_logs_list",
            """
            SELECT \(callLogColumns) FROM \(callLogTables)
            WHERE coalesce(l.started_at, l.created_at) >= $since::timestamptz
              AND coalesce(l.started_at, l.created_at) < $until::timestamptz
              AND (coalesce(l.started_at, l.created_at), l.id) < ($cursor_at::timestamptz, $cursor_id::bigint)
              AND ($campaign_id::bigint IS NULL OR l.campaign_id = $campaign_id::bigint)
              AND ($outcome::text IS NULL OR l.outcome = $outcome::text)
              AND ($agent::text IS NULL OR l.agent = $agent::text)
              AND ($customer_ref::text IS NULL OR c.external_ref = $customer_ref::text)
              AND ($job_id::bigint IS NULL OR l.job_id = $job_id::bigint)
            ORDER BY coalesce(l.started_at, l.created_at) DESC, l.id DESC
            LIMIT $limit::int
            """)
        var filter: ListCalls.Params
        /// The id of `filter.campaign`.
        var campaignId: Int64?
        var limit: Int

        func bind(_ b: inout Bindings) {
            let cursor = self.filter.cursor.flatMap(ListCalls.Cursor.init)
            b.bind("since", self.filter.since ?? "-infinity")
            b.bind("until", self.filter.until ?? "infinity")
            // The cursor's instant as text PostgreSQL reads exactly (microseconds, UTC).
            b.bind("cursor_at", cursor.map { Self.timestamp(microseconds: $0.microseconds) } ?? "infinity")
            b.bind("cursor_id", cursor?.id ?? Int64.max)
            b.bind("campaign_id", self.campaignId)
            b.bind("outcome", self.filter.outcome?.rawValue)
            b.bind("agent", self.filter.agent)
            b.bind("customer_ref", self.filter.customerRef)
            b.bind("job_id", self.filter.jobId)
            b.bind("limit", self.limit)
        }

        /// `1733112000.123456+00`: seconds and microseconds since the epoch as a timestamptz
        /// literal, exact (no floating point on either side).
        static func timestamp(microseconds us: Int64) -> String {
            let (s, f) = us.quotientAndRemainder(dividingBy: 1_000_000)
            let (sec, frac) = f < 0 ? (s - 1, f + 1_000_000) : (s, f)
            let date = Date(timeIntervalSince1970: TimeInterval(sec))
            var cal = Calendar(identifier: .gregorian)
            cal.timeZone = TimeZone(identifier: "UTC")!
            let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            return String(
                format: "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!,
                Int(frac))
        }

        static func decode(_ r: PQRow) throws -> (call: CallLogView, atMicroseconds: Int64) {
            let call = CallLogView(
                id: try r.int64("id"), jobId: try r.int64("job_id"), attempt: try r.int("attempt"),
                agent: try r.string("agent"), provider: try r.string("provider"),
                providerCallId: r["provider_call_id"], idempotencyKey: try r.string("idempotency_key"),
                startedAt: r["started_at"], endedAt: r["ended_at"],
                outcome: CallOutcome(rawValue: try r.string("outcome")) ?? .failed,
                durationMs: r.optionalInt("duration_ms"), detail: JSONText.decode(r["detail"]),
                createdAt: r["created_at"], campaign: r["campaign"], customerRef: r["customer_ref"])
            return (call, try r.int64("at_us"))
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
            WHERE $campaign_id::bigint IS NULL OR l.campaign_id = $campaign_id::bigint
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
