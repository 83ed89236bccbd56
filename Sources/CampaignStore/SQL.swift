/// Every SQL statement of the product, named *table + verb*. Parameters are always `$n` binds.
///
/// Batch statements take arrays (`unnest($1::bigint[], …)`), so that one statement serves the
/// requests of many agents.
public enum SQL {
    // MARK: Migrations

    /// Serialises migrators across coordinators: an arbitrary fixed advisory-lock key.
    static let migrationLockKey = "7301946510"

    static let migrationsLock = "SELECT pg_advisory_xact_lock(\(migrationLockKey))"
    static let migrationsBootstrap = """
        CREATE SCHEMA IF NOT EXISTS campaign;
        CREATE TABLE IF NOT EXISTS campaign.schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        """
    static let migrationsApplied = "SELECT version FROM campaign.schema_migrations ORDER BY version"
    static let migrationsRecord = "INSERT INTO campaign.schema_migrations (version, name) VALUES ($1::int, $2)"

    // MARK: Customers

    /// Inserts or updates customers by `external_ref`; reports per row whether it was new.
    /// Rows come as parallel arrays; validation happened before (phone, timezone).
    static let customersUpsert = SQLStatement(
        "customers_upsert",
        """
        INSERT INTO campaign.customers AS c (external_ref, name, phone, timezone, status, attributes)
        SELECT r, n, p, tz, coalesce(s, 'ACTIVE')::campaign.customer_status, coalesce(a, '{}')
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[]) AS t(r, n, p, tz, s, a)
        ON CONFLICT (external_ref) DO UPDATE SET
            name = EXCLUDED.name, phone = EXCLUDED.phone, timezone = EXCLUDED.timezone,
            status = CASE WHEN $7::bool THEN c.status ELSE EXCLUDED.status END,
            attributes = EXCLUDED.attributes, updated_at = now()
        RETURNING (xmax = 0) AS inserted
        """)

    static let customerColumns = """
        id, external_ref, name, phone, timezone, status::text AS status, campaign.ts(last_called_at) AS last_called_at,
        attributes, campaign.ts(created_at) AS created_at, campaign.ts(updated_at) AS updated_at
        """

    static let customersGet = SQLStatement(
        "customers_get",
        """
        SELECT \(customerColumns) FROM campaign.customers
        WHERE ($1::bigint IS NOT NULL AND id = $1::bigint) OR ($2::text IS NOT NULL AND external_ref = $2::text)
        """)

    /// In id order, keyset paging (`$3`: after this id), optional status.
    static let customersList = SQLStatement(
        "customers_list",
        """
        SELECT \(customerColumns) FROM campaign.customers
        WHERE ($1::campaign.customer_status IS NULL OR status = $1::campaign.customer_status)
          AND ($3::bigint IS NULL OR id > $3::bigint)
        ORDER BY id LIMIT $2::int
        """)

    // MARK: Jobs: enqueue

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

    // MARK: Jobs: agent side

    /// Locks up to `$1` due jobs, best first, for a group commit of leases (the requests of
    /// every agent waiting at that moment). `SKIP LOCKED` keeps concurrent leasers (and
    /// coordinators) from ever taking the same row; the store then decides each lease with the
    /// state machine and writes them all with `jobsLeaseWrite`.
    static let jobsLockDue = SQLStatement(
        "jobs_lock_due",
        """
        SELECT \(lockedJobColumns)
        FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
        WHERE j.status = 'QUEUED' AND j.run_at <= now()
        ORDER BY j.priority DESC, j.run_at, j.id
        LIMIT $1::int
        FOR UPDATE OF j SKIP LOCKED
        """)

    /// Generic plans for the rest of this transaction. The lease statements run many times a
    /// second; left to choose, PostgreSQL plans `jobsLockDue` anew on most calls (its `LIMIT $1`
    /// makes the generic plan look costlier than the same plan made for the given limit), and
    /// that planning was a third of the lease's time in the database.
    static let forceGenericPlans = SQLStatement(
        "force_generic_plans", "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")

    /// Writes decided leases: QUEUED → ACTIVE/CLAIMED, ACTIVE/DIALING (leased with the pre-dial
    /// check passed: `idem` set) or SKIPPED (refused by a rule at that check: `result` set);
    /// attempts_made + 1 and a fresh lease token `token` each. Lease fields for `$9` seconds
    /// while ACTIVE; the token is kept on a SKIPPED job, like every finished one.
    static let jobsLeaseWrite = SQLStatement(
        "jobs_lease_write",
        """
        UPDATE campaign.campaign_jobs j SET
            status = u.status::campaign.campaign_job_status,
            phase = u.phase::campaign.job_phase,
            attempts_made = j.attempts_made + 1,
            lease_token = u.token,
            lease_owner = CASE WHEN u.status = 'ACTIVE' THEN u.owner END,
            lease_expires_at = CASE WHEN u.status = 'ACTIVE' THEN now() + make_interval(secs => $9::int) END,
            idempotency_key = u.idem,
            result = coalesce(u.result, j.result),
            last_report = u.last_report,
            started_at = now(), updated_at = now()
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::jsonb[], $8::text[])
            AS u(id, status, phase, owner, token, idem, result, last_report)
        WHERE j.id = u.id
        RETURNING j.id, campaign.ts(j.lease_expires_at) AS lease_expires_at
        """)

    /// The columns the state machine needs of a locked job, plus the customer's state for the
    /// pre-dial check.
    static let lockedJobColumns = """
        j.id, j.queue_job_id, j.status, j.phase, j.lease_token, j.lease_owner, j.attempts_made,
        j.max_attempts, j.customer_id, coalesce((j.result ->> 'reason') = 'outcome_unknown', false) AS outcome_unknown,
        j.last_report,
        c.status AS customer_status, c.phone, c.timezone,
        extract(epoch FROM c.last_called_at)::float8 AS last_called_epoch,
        j.reason, c.external_ref, c.name, c.attributes
        """

    /// Locks the jobs named in a batch of reports (in id order, so batches never deadlock).
    static let jobsLockForReport = SQLStatement(
        "jobs_lock_for_report",
        """
        SELECT \(lockedJobColumns)
        FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
        WHERE j.id = ANY($1::bigint[])
        ORDER BY j.id
        FOR UPDATE OF j
        """)

    /// ``jobsLockForReport`` for a batch with no pre-dial check in it: the job's columns only
    /// (the customer's come back NULL, which the store reads as a number that may not be called),
    /// so reports neither join the customers nor carry their attributes.
    static let jobsLockForReportOnly = SQLStatement(
        "jobs_lock_for_report_only",
        """
        SELECT j.id, j.queue_job_id, j.status, j.phase, j.lease_token, j.lease_owner, j.attempts_made,
               j.max_attempts, j.customer_id,
               coalesce((j.result ->> 'reason') = 'outcome_unknown', false) AS outcome_unknown, j.last_report,
               NULL::text AS customer_status, NULL::text AS phone, NULL::text AS timezone,
               NULL::float8 AS last_called_epoch, j.reason, NULL::text AS external_ref, NULL::text AS name,
               NULL::text AS attributes
        FROM campaign.campaign_jobs j
        WHERE j.id = ANY($1::bigint[])
        ORDER BY j.id
        FOR UPDATE OF j
        """)

    /// Locks up to `$1` jobs whose lease ran out; rows another sweeper holds are skipped.
    static let jobsLockExpired = SQLStatement(
        "jobs_lock_expired",
        """
        SELECT \(lockedJobColumns)
        FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
        WHERE j.status = 'ACTIVE' AND j.lease_expires_at < now()
        ORDER BY j.id
        LIMIT $1::int
        FOR UPDATE OF j SKIP LOCKED
        """)

    /// Locks the CLAIMED (not yet dialing) jobs of one lease owner, whose connection closed.
    static let jobsLockClaimedByOwner = SQLStatement(
        "jobs_lock_claimed_by_owner",
        """
        SELECT \(lockedJobColumns)
        FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
        WHERE j.status = 'ACTIVE' AND j.phase = 'CLAIMED' AND j.lease_owner = $1
        ORDER BY j.id
        FOR UPDATE OF j
        """)

    /// Moves still-current ACTIVE leases (matched by id and token) to a new owner (an agent's
    /// new connection) and extends them; returns the ids taken over.
    static let jobsAdoptLeases = SQLStatement(
        "jobs_adopt_leases",
        """
        UPDATE campaign.campaign_jobs j
        SET lease_owner = $3, lease_expires_at = now() + make_interval(secs => $4::int)
        FROM (
            -- Lock in id order, as every multi-row writer does, so writers never deadlock.
            SELECT x.id FROM campaign.campaign_jobs x JOIN unnest($1::bigint[], $2::uuid[]) AS u(id, token)
                ON x.id = u.id AND x.lease_token = u.token
            WHERE x.status = 'ACTIVE'
            ORDER BY x.id
            FOR UPDATE OF x
        ) r
        WHERE j.id = r.id
        RETURNING j.id
        """)

    /// Extends every lease held by the given owners (the coordinator's connected agents) by
    /// `$2` seconds from now: one statement per interval, no per-job heartbeats.
    ///
    /// Rows another transaction holds are skipped (it is changing them anyway; the next round
    /// renews them), so renewal never waits and never deadlocks. A lease older than `$3`
    /// seconds is not renewed: a job an agent lost track of cannot stay ACTIVE forever just
    /// because the agent stays connected.
    static let jobsRenewLeases = SQLStatement(
        "jobs_renew_leases",
        """
        UPDATE campaign.campaign_jobs j
        SET lease_expires_at = now() + make_interval(secs => $2::int)
        FROM (
            SELECT id FROM campaign.campaign_jobs
            WHERE status = 'ACTIVE' AND lease_owner = ANY($1::text[])
              AND started_at > now() - make_interval(secs => $3::int)
            ORDER BY id
            FOR UPDATE SKIP LOCKED
        ) r
        WHERE j.id = r.id
        """)

    /// Applies the state machine's transitions to many jobs at once. Lease fields are kept while
    /// ACTIVE and cleared otherwise; the lease token is kept, so a resent report is recognised.
    /// Answers each written job's report view.
    static let jobsApplyTransitions = SQLStatement(
        "jobs_apply_transitions",
        """
        UPDATE campaign.campaign_jobs j SET
            status = u.status::campaign.campaign_job_status,
            phase = u.phase::campaign.job_phase,
            run_at = CASE WHEN u.delay_ms IS NULL THEN j.run_at
                          ELSE now() + u.delay_ms * interval '1 millisecond' END,
            result = coalesce(u.result, j.result),
            idempotency_key = coalesce(u.idem, j.idempotency_key),
            max_attempts = coalesce(u.max_attempts, j.max_attempts),
            last_report = u.last_report,
            lease_owner = CASE WHEN u.status = 'ACTIVE' THEN j.lease_owner END,
            lease_expires_at = CASE WHEN u.status = 'ACTIVE' THEN j.lease_expires_at END,
            completed_at = CASE WHEN u.status = 'COMPLETED' THEN now() ELSE j.completed_at END,
            failed_at = CASE WHEN u.status = 'FAILED' THEN now() ELSE j.failed_at END,
            updated_at = now()
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::jsonb[], $6::text[], $7::int[],
                    $8::text[])
            AS u(id, status, phase, delay_ms, result, idem, max_attempts, last_report)
        WHERE j.id = u.id
        RETURNING \(reportViewColumns)
        """)

    /// Marks the customers of jobs that started dialing as called now (the cooldown counts from here).
    static let customersMarkCalled = SQLStatement(
        "customers_mark_called",
        """
        UPDATE campaign.customers c SET last_called_at = now()
        FROM (SELECT id FROM campaign.customers WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE) r
        WHERE c.id = r.id
        """)

    /// Keeps the call log of every placed call, whatever became of its job; a resent report
    /// (same idempotency key) adds nothing.
    static let callLogsInsert = SQLStatement(
        "call_logs_insert",
        """
        INSERT INTO campaign.call_logs (job_id, customer_id, attempt, agent, provider, provider_call_id,
            idempotency_key, started_at, ended_at, outcome, duration, detail)
        SELECT job_id, customer_id, attempt, agent, provider, provider_call_id, idem, started_at, ended_at,
               outcome, duration_ms * interval '1 millisecond', detail
        FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::timestamptz[], $9::timestamptz[], $10::text[], $11::bigint[], $12::jsonb[])
            AS t(job_id, customer_id, attempt, agent, provider, provider_call_id, idem, started_at, ended_at,
                 outcome, duration_ms, detail)
        ON CONFLICT DO NOTHING
        """)

    /// What an answer to a report shows of a job (`ReportView`).
    static let reportViewColumns = "j.id, j.status, j.attempts_made, campaign.ts(j.run_at) AS run_at, j.result"

    /// The wire view of jobs a batch did not write (a replayed report), for the answers; the
    /// written ones come back from `jobsApplyTransitions` itself.
    static let jobsReportView = SQLStatement(
        "jobs_report_view",
        """
        SELECT \(reportViewColumns)
        FROM campaign.campaign_jobs j WHERE j.id = ANY($1::bigint[])
        """)

    // MARK: Eligibility and provider limits

    /// Serialises the decisions that count calls (dialing checks and automatic enqueues) across
    /// all coordinators, so caps and provider limits hold exactly.
    static let dialLimitsLockKey = "7301946512"
    static let dialLimitsLock = SQLStatement("dial_limits_lock", "SELECT pg_advisory_xact_lock(\(dialLimitsLockKey))")

    /// What the pre-dial check counts, at one instant: calls started today (in the campaign
    /// timezone `$1`), calls in progress, call starts within the last `$2` seconds, and the clock.
    ///
    /// Every part costs the same whatever the number of calls made before (issue 11): today is
    /// a sum of at most 96 quarter-hour counters (`bucket >` the quarter before midnight takes
    /// the bucket holding midnight whole: exact for every zone of today, whose offsets are
    /// multiples of 15 minutes, and an over-count otherwise), the window a sum of the 100 ms
    /// counters that touch it (whole, so never an under-count), in progress an index of the
    /// DIALING jobs only. The clock is read once (`clock`, a materialised CTE) so all parts
    /// agree, and the bounds are parameters of index scans, not volatile filters.
    static let dialCounters = SQLStatement(
        "dial_counters",
        """
        WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS t)
        SELECT
            (SELECT coalesce(sum(q.n), 0) FROM campaign.dial_counts_quarter q
              WHERE q.bucket > (date_trunc('day', clock.t AT TIME ZONE $1) AT TIME ZONE $1) - interval '15 minutes')
                AS today,
            (SELECT count(*) FROM campaign.campaign_jobs WHERE status = 'ACTIVE' AND phase = 'DIALING') AS dialing,
            (SELECT coalesce(sum(k.n), 0) FROM campaign.dial_counts_tick k
              WHERE k.bucket > clock.t - make_interval(secs => $2::float8) - interval '100 milliseconds') AS window,
            extract(epoch FROM clock.t)::float8 AS now_epoch
        FROM clock
        """)

    /// Counts `$2` call starts at the batch's instant `$1` (seconds since 1970, from
    /// `dialCounters`): added to the counters of that instant's quarter hour and 100 ms tick.
    static let dialCountersAdd = SQLStatement(
        "dial_counters_add",
        """
        WITH quarter AS (
            INSERT INTO campaign.dial_counts_quarter (bucket, n)
            SELECT to_timestamp(floor($1::float8 / 900) * 900), $2::bigint
            ON CONFLICT (bucket) DO UPDATE SET n = campaign.dial_counts_quarter.n + EXCLUDED.n
        )
        INSERT INTO campaign.dial_counts_tick (bucket, n)
        SELECT to_timestamp(floor($1::float8 * 10) / 10), $2::bigint
        ON CONFLICT (bucket) DO UPDATE SET n = campaign.dial_counts_tick.n + EXCLUDED.n
        """)

    /// Forgets the quarter-hour counters older than `$1` days (the cap only looks at today) and
    /// the 100 ms counters older than ten minutes (the rate window is at most 100 s); answers
    /// the number of counter rows removed.
    static let dialCountersPrune = SQLStatement(
        "dial_counters_prune",
        """
        WITH q AS (DELETE FROM campaign.dial_counts_quarter WHERE bucket < now() - make_interval(days => $1::int) RETURNING 1),
             k AS (DELETE FROM campaign.dial_counts_tick WHERE bucket < now() - interval '10 minutes' RETURNING 1)
        SELECT (SELECT count(*) FROM q) + (SELECT count(*) FROM k) AS n
        """)

    /// `automation.run` in one statement: classifies every customer by the first eligibility rule
    /// it fails (`campaign.eligibility_reason`, the same rules in the same order as
    /// `EligibilityPolicy`), enqueues the eligible ones in id order up to the cap left today
    /// (unless `$8` dry run), and answers with counts.
    ///
    /// `$1` campaign timezone, `$2`/`$3` working hours (`HH:MM`, end exclusive, `24:00` allowed),
    /// `$4` ISO weekdays, `$5` cooldown minutes, `$6` daily cap, `$7` max attempts, `$8` dry run,
    /// `$9` the instant to judge at in microseconds since 1970 (NULL: now). The cap left = cap − calls started today − jobs not
    /// yet dialing (they will call). Run under `dialLimitsLock`, so two coordinators' runs cannot
    /// both spend the same cap.
    static let automationRun = SQLStatement(
        "automation_run",
        """
        WITH at AS (
            SELECT coalesce('epoch'::timestamptz + $9::bigint * interval '1 microsecond', now()) AS t
        ), day AS (
            SELECT (at.t AT TIME ZONE $1)::date AS d, (date_trunc('day', at.t AT TIME ZONE $1) AT TIME ZONE $1) AS start
            FROM at
        ), used AS (
            SELECT (SELECT coalesce(sum(q.n), 0) FROM campaign.dial_counts_quarter q, day
                     WHERE q.bucket > day.start - interval '15 minutes')
                 + (SELECT count(*) FROM campaign.campaign_jobs
                     WHERE status = 'QUEUED' OR (status = 'ACTIVE' AND phase = 'CLAIMED')) AS n
        ), classified AS (
            \(classifyCustomers)
        ), ranked AS (
            SELECT id, external_ref, row_number() OVER (ORDER BY id) AS rn FROM classified WHERE reason IS NULL
        ), picked AS (
            SELECT r.id, r.external_ref FROM ranked r, used WHERE r.rn <= greatest(0, $6::int - used.n)
        ), inserted AS (
            INSERT INTO campaign.campaign_jobs (queue_job_id, customer_id, reason, max_attempts, auto_date)
            -- The queue job id: AutomaticQueueJobID (CampaignCore), <external ref>:<date>.
            SELECT p.external_ref || ':' || day.d::text, p.id, 'automation', $7::int, day.d
            FROM picked p, day
            WHERE NOT $8::bool
            -- One arbiter index (cheaper than all three unique ones); a clash on queue_job_id
            -- cannot happen: manual enqueues may not use the automatic `<ref>:<YYYY-MM-DD>` form.
            ON CONFLICT (customer_id, auto_date) DO NOTHING
            RETURNING 1
        )
        SELECT coalesce(reason, 'eligible') AS k, count(*)::bigint AS n FROM classified GROUP BY 1
        UNION ALL SELECT 'picked', count(*) FROM picked
        UNION ALL SELECT 'enqueued', count(*) FROM inserted
        UNION ALL SELECT 'cap_remaining', greatest(0, $6::int - n) FROM used
        UNION ALL SELECT 'date:' || d::text, 0 FROM day
        """)

    /// Every customer with its eligibility reason (NULL: eligible), at `at.t`, in the campaign
    /// day `day.d` — the body shared by `automationRun` and `customersClassify`.
    static let classifyCustomers = """
        SELECT c.id, c.external_ref,
               campaign.eligibility_reason(
                   c.status, c.phone, c.timezone, c.last_called_at, o.customer_id IS NOT NULL,
                   t.customer_id IS NOT NULL, at.t, $2::time, $3::time, $4::int[], $5::int) AS reason
        FROM campaign.customers c
        CROSS JOIN at
        LEFT JOIN (SELECT DISTINCT customer_id FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE')) o
            ON o.customer_id = c.id
        LEFT JOIN (SELECT j.customer_id FROM campaign.campaign_jobs j, day WHERE j.auto_date = day.d) t
            ON t.customer_id = c.id
        """

    /// The reason of every customer, as `automationRun` judges them (same parameters; `$6`–`$8`
    /// unused): for tests that hold the SQL to the Swift policy, and for diagnostics.
    static let customersClassify = SQLStatement(
        "customers_classify",
        """
        WITH at AS (SELECT coalesce('epoch'::timestamptz + $9::bigint * interval '1 microsecond', now()) AS t),
             day AS (SELECT (at.t AT TIME ZONE $1)::date AS d FROM at),
             unused AS (SELECT $6::int, $7::int, $8::bool)
        SELECT id, reason FROM (\(classifyCustomers)) x ORDER BY id
        """)

    // MARK: Jobs: reads

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

    // MARK: Automation settings

    static let settingsAll = SQLStatement("settings_all", "SELECT key, value FROM campaign.automation_settings")

    /// Writes changed settings and logs each change with who made it, in one statement.
    static let settingsWrite = SQLStatement(
        "settings_write",
        """
        WITH input AS (
            SELECT * FROM unnest($1::text[], $2::jsonb[]) AS t(key, value)
        ), old AS (
            SELECT s.key, s.value FROM campaign.automation_settings s JOIN input USING (key)
        ), written AS (
            INSERT INTO campaign.automation_settings (key, value, updated_by)
            SELECT key, value, $3 FROM input
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(),
                updated_by = EXCLUDED.updated_by
            RETURNING key
        )
        INSERT INTO campaign.automation_settings_log (key, old_value, new_value, updated_by)
        SELECT i.key, o.value, i.value, $3 FROM input i LEFT JOIN old o USING (key)
        WHERE o.value IS DISTINCT FROM i.value
        """)

    // MARK: Coordination between coordinators

    /// The channel on which coordinators tell each other that jobs may be due.
    static let jobsChannel = "campaign_jobs"

    /// Subscribes the control connection to the jobs channel (a constant: no user input).
    static let jobsListen = "LISTEN campaign_jobs"

    /// Tells every coordinator's long polls that jobs may be due; `$1` names the sender, which
    /// ignores its own message. Transactional: sent only if the surrounding transaction commits.
    static let jobsNotify = SQLStatement("jobs_notify", "SELECT pg_notify('campaign_jobs', $1)")

    /// The maintenance leader holds this session-level advisory lock on its control connection;
    /// it is released when that session ends (crash, kill, network loss).
    static let leaderLockKey = "7301946511"
    static let leaderTryLock = SQLStatement(
        "leader_try_lock", "SELECT pg_try_advisory_lock(\(leaderLockKey)) AS locked")

    /// Cheap liveness probe of the database.
    static let ping = SQLStatement("ping", "SELECT 1")
}
