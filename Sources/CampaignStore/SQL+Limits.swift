// MARK: Eligibility and provider limits

extension SQL {
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
}
