import CampaignCore
import CampaignProtocol
import Foundation

// MARK: Eligibility and provider limits

extension SQL {
    /// Serialises the decisions that count calls (dialing checks and automatic enqueues) across
    /// all coordinators, so caps and provider limits hold exactly.
    static let dialLimitsLockKey = "7301946512"

    struct DialLimitsLock: Statement {
        static let sql = StatementSQL("dial_limits_lock", "SELECT pg_advisory_xact_lock(\(dialLimitsLockKey))")
    }

    /// What the pre-dial check counts, at one instant, for each campaign given: its calls
    /// started today (in its `timezone`) and in progress; and for the provider: calls in progress
    /// in all campaigns, call starts within the last `window_seconds`, and the clock. One row per
    /// campaign (one with a NULL campaign when none is given).
    ///
    /// Every part costs the same whatever the number of calls made before (issue 11): today is
    /// a sum of at most 96 quarter-hour counters (`bucket >` the quarter before midnight takes
    /// the bucket holding midnight whole: exact for every zone of today, whose offsets are
    /// multiples of 15 minutes, and an over-count otherwise), the window a sum of the 100 ms
    /// counters that touch it (whole, so never an under-count), in progress the ACTIVE jobs
    /// only. The clock is read once (`clock`, a materialised CTE) so all parts agree, and the
    /// bounds are parameters of index scans, not volatile filters.
    struct DialCounters: Statement {
        static let sql = StatementSQL(
            "dial_counters",
            """
            WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS t),
            dialing AS MATERIALIZED (
                SELECT campaign_id, count(*) AS n FROM campaign.campaign_jobs
                WHERE status = 'ACTIVE' AND phase = 'DIALING' GROUP BY campaign_id
            ),
            provider AS MATERIALIZED (
                SELECT (SELECT coalesce(sum(n), 0) FROM dialing) AS dialing,
                       (SELECT coalesce(sum(k.n), 0) FROM campaign.dial_counts_tick k
                         WHERE k.bucket > clock.t - make_interval(secs => $window_seconds::float8) - interval '100 milliseconds')
                           AS window,
                       extract(epoch FROM clock.t)::float8 AS now_epoch, clock.t
                FROM clock
            )
            SELECT g.id AS campaign_id,
                (SELECT coalesce(sum(q.n), 0) FROM campaign.dial_counts_quarter q
                  WHERE q.campaign_id = g.id
                    AND q.bucket > (date_trunc('day', p.t AT TIME ZONE g.tz) AT TIME ZONE g.tz) - interval '15 minutes')
                    AS today,
                coalesce((SELECT d.n FROM dialing d WHERE d.campaign_id = g.id), 0) AS campaign_dialing,
                p.dialing, p.window, p.now_epoch
            FROM provider p
            LEFT JOIN unnest($campaign_ids::bigint[], $timezones::text[]) AS g(id, tz) ON true
            """)
        var campaignIds: [Int64]
        var timezones: [String]
        var windowSeconds: Double

        func bind(_ b: inout Bindings) {
            b.bind("window_seconds", String(self.windowSeconds))
            b.bind("campaign_ids", array: self.campaignIds)
            b.bind("timezones", array: self.timezones)
        }

        struct Row {
            var campaignId: Int64?
            /// The campaign's calls started today and in progress.
            var today: Int
            var campaignDialing: Int
            /// The provider's: calls in progress in all campaigns, starts in the rate window.
            var dialing: Int
            var window: Int
            /// The database's clock as it gave it (seconds since 1970).
            var nowEpoch: String
        }

        static func decode(_ row: PQRow) throws -> Row {
            Row(
                campaignId: row.optionalInt("campaign_id").map(Int64.init), today: row.optionalInt("today") ?? 0,
                campaignDialing: row.optionalInt("campaign_dialing") ?? 0, dialing: try row.int("dialing"),
                window: try row.int("window"), nowEpoch: try row.string("now_epoch"))
        }
    }

    /// Counts call starts at the batch's instant `at_epoch` (seconds since 1970, from
    /// ``DialCounters``): `counts` of each campaign added to its counter of that instant's quarter
    /// hour, and all of them to the provider's 100 ms tick.
    struct DialCountersAdd: Statement {
        static let sql = StatementSQL(
            "dial_counters_add",
            """
            WITH quarter AS (
                INSERT INTO campaign.dial_counts_quarter (campaign_id, bucket, n)
                SELECT u.id, to_timestamp(floor($at_epoch::float8 / 900) * 900), u.n
                FROM unnest($campaign_ids::bigint[], $counts::bigint[]) AS u(id, n)
                ON CONFLICT (campaign_id, bucket) DO UPDATE SET n = campaign.dial_counts_quarter.n + EXCLUDED.n
            )
            INSERT INTO campaign.dial_counts_tick (bucket, n)
            SELECT to_timestamp(floor($at_epoch::float8 * 10) / 10), $total::bigint
            ON CONFLICT (bucket) DO UPDATE SET n = campaign.dial_counts_tick.n + EXCLUDED.n
            """)
        var atEpoch: String
        /// Call starts per campaign (distinct campaigns).
        var counts: [(campaignId: Int64, n: Int)]

        func bind(_ b: inout Bindings) {
            b.bind("at_epoch", self.atEpoch)
            b.bind("campaign_ids", array: self.counts.map(\.campaignId))
            b.bind("counts", array: self.counts.map(\.n))
            b.bind("total", self.counts.reduce(0) { $0 + $1.n })
        }
    }

    /// Records call starts by number at the batch's instant `at_epoch` (from ``DialCounters``):
    /// what the caps of calls per number count (``NumberFrequencyCap``).
    struct NumberCallsAdd: Statement {
        static let sql = StatementSQL(
            "number_calls_add",
            """
            INSERT INTO campaign.number_calls (phone, at, campaign_id)
            SELECT u.phone, to_timestamp($at_epoch::float8), u.campaign_id
            FROM unnest($phones::text[], $campaign_ids::bigint[]) AS u(phone, campaign_id)
            """)
        var atEpoch: String
        var starts: [(phone: String, campaignId: Int64)]

        func bind(_ b: inout Bindings) {
            b.bind("at_epoch", self.atEpoch)
            b.bind("phones", array: self.starts.map(\.phone))
            b.bind("campaign_ids", array: self.starts.map(\.campaignId))
        }
    }

    /// The call starts of one job's number (seconds since 1970, comma-separated, oldest first;
    /// NULL: none) in the three days ``Migration0014NumberCalls`` keeps: a column of the
    /// statements that lock jobs for a pre-dial check, read under ``DialLimitsLock``.
    static let numberCallsOfCustomer = """
        (SELECT string_agg(extract(epoch FROM n.at)::text, ',' ORDER BY n.at) FROM campaign.number_calls n
          WHERE n.phone = c.phone AND n.at > now() - interval '3 days')
        """

    /// The pre-dial check's refusals and deferrals, for the audit: who asked (the agent), when,
    /// for which job, customer, number and campaign, by which rule, and until when (a deferral).
    struct DialRefusalsInsert: Statement {
        static let sql = StatementSQL(
            "dial_refusals_insert",
            """
            INSERT INTO campaign.dial_refusals (job_id, campaign_id, customer_id, phone, rule, until, by)
            SELECT u.job_id, u.campaign_id, u.customer_id, u.phone, u.rule,
                   'epoch'::timestamptz + u.until_us * interval '1 microsecond', u.by
            FROM unnest($job_ids::bigint[], $campaign_ids::bigint[], $customer_ids::bigint[], $phones::text[],
                        $rules::text[], $until_us::bigint[], $bys::text[])
                AS u(job_id, campaign_id, customer_id, phone, rule, until_us, by)
            """)
        struct Refusal {
            var jobId: Int64
            var campaignId: Int64
            var customerId: Int64
            var phone: String
            var rule: String
            var until: Date?
            var by: String
        }
        var refusals: [Refusal]

        func bind(_ b: inout Bindings) {
            b.bind("job_ids", array: self.refusals.map(\.jobId))
            b.bind("campaign_ids", array: self.refusals.map(\.campaignId))
            b.bind("customer_ids", array: self.refusals.map(\.customerId))
            b.bind("phones", array: self.refusals.map { $0.phone as String? })
            b.bind("rules", array: self.refusals.map { $0.rule as String? })
            b.bind("until_us", array: self.refusals.map { $0.until.map(JobsDefer.micros) })
            b.bind("bys", array: self.refusals.map { $0.by as String? })
        }
    }

    /// Whether the customer `c`'s number is suppressed now: a column of the statements that
    /// lock jobs for a pre-dial check.
    static let suppressedNow = """
        EXISTS (SELECT 1 FROM campaign.suppressions s
                WHERE s.phone = c.phone AND (s.expires_at IS NULL OR s.expires_at > now()))
        """

    /// Forgets the quarter-hour counters older than `days` days (the cap only looks at today),
    /// the 100 ms counters older than ten minutes (the rate window is at most 100 s) and the call
    /// starts by number older than three days (the number caps look back 24 hours or a local day); answers
    /// the number of counter rows removed.
    struct DialCountersPrune: Statement {
        static let sql = StatementSQL(
            "dial_counters_prune",
            """
            WITH q AS (DELETE FROM campaign.dial_counts_quarter WHERE bucket < now() - make_interval(days => $days::int)
                       RETURNING 1),
                 k AS (DELETE FROM campaign.dial_counts_tick WHERE bucket < now() - interval '10 minutes' RETURNING 1),
                 c AS (DELETE FROM campaign.number_calls WHERE at < now() - interval '3 days' RETURNING 1)
            SELECT (SELECT count(*) FROM q) + (SELECT count(*) FROM k) + (SELECT count(*) FROM c) AS n
            """)
        var days: Int
        func bind(_ b: inout Bindings) { b.bind("days", self.days) }
        static func decode(_ row: PQRow) throws -> Int { try row.int("n") }
    }

    /// What both automation statements judge customers by: a campaign's rules at one instant.
    struct EligibilityInputs {
        var settings: AutomationSettings
        /// The instant to judge at (tests); nil is the database's now.
        var at: Date?
        /// The campaign judged for: its audience, and its own jobs of the day.
        var campaignId: Int64 = CampaignRecord.defaultID
        /// Only the campaign's members (audience `members`).
        var membersOnly = false

        /// `timezone` (the campaign's), the calling windows as `campaign.in_window` takes them
        /// (`starts`, `ends` in seconds after midnight, `masks` of ISO weekdays, `blackout`
        /// dates), `cooldown_minutes`, and `at_us`: the instant in microseconds since 1970 (NULL: now).
        func bind(_ b: inout Bindings) {
            b.bind("at_us", self.at.map { at in
                // Whole microseconds, floored (PostgreSQL's resolution): rounding would move an
                // instant just before a boundary (09:00, midnight, a cooldown's end) onto it. From
                // the reference date, which Date stores, so no precision is lost on the way.
                String(Int64((at.timeIntervalSinceReferenceDate * 1_000_000).rounded(.down)) + 978_307_200_000_000)
            })
            b.bind("timezone", self.settings.timezone)
            // Validated settings always have windows; an invalid set (never written) has none.
            let windows = self.settings.callingWindows ?? CallingWindows(windows: [])
            b.bind("starts", array: windows.windows.map(\.startSecond))
            b.bind("ends", array: windows.windows.map(\.endSecond))
            b.bind("masks", array: windows.windows.map(\.weekdayMask))
            b.bind("blackout", array: windows.blackoutDays.sorted().map { day in
                LocalTime(Date(timeIntervalSince1970: Double(day) * 86_400), TimeZone(identifier: "UTC")!).date as String?
            })
            b.bind("cooldown_minutes", self.settings.cooldownMinutes)
            b.bind("strictest_jurisdiction", Jurisdictions.strictestKey)
            b.bind("require_consent", self.settings.requireConsent)
            let numberCap = self.settings.numberCap
            b.bind("number_per_24h", numberCap.per24h)
            b.bind("number_per_day", numberCap.perLocalDay)
            b.bind("campaign_id", self.campaignId)
            b.bind("members_only", self.membersOnly)
        }
    }

    /// The instant judged at (`at.t`) and the campaign day (`day.d`, and `day.start` its first
    /// instant): the CTEs both automation statements start with.
    static let eligibilityClock = """
        at AS (
            SELECT coalesce('epoch'::timestamptz + $at_us::bigint * interval '1 microsecond', now()) AS t
        ), day AS (
            SELECT (at.t AT TIME ZONE $timezone)::date AS d,
                   (date_trunc('day', at.t AT TIME ZONE $timezone) AT TIME ZONE $timezone) AS start
            FROM at
        )
        """

    /// Every customer of the campaign's audience with its eligibility reason (NULL: eligible),
    /// at `at.t`, in the campaign day `day.d` — the body shared by ``AutomationRun`` and
    /// ``CustomersClassify``. An open job in any campaign counts (a customer is not called by two
    /// campaigns at once); the day's automatic job is the campaign's own.
    static let classifyCustomers = """
        SELECT c.id, c.external_ref,
               campaign.eligibility_reason_j(
                   c.status, c.phone, c.timezone, c.last_called_at, o.customer_id IS NOT NULL,
                   t.customer_id IS NOT NULL, at.t, $starts::int[], $ends::int[], $masks::int[],
                   $blackout::date[], f.starts, f.ends, f.masks, s.phone IS NOT NULL,
                   $require_consent::bool AND c.consent IS NULL,
                   campaign.number_capped(
                       nc.calls, at.t, c.timezone, least(f.calls_per_24h, $number_per_24h::int), $number_per_day::int),
                   $cooldown_minutes::int) AS reason
        FROM campaign.customers c
        CROSS JOIN at
        -- The law's floor (none for a customer no rule applies to; the strictest for one whose
        -- jurisdiction is not worked out yet).
        LEFT JOIN campaign.jurisdiction_floors f ON f.jurisdiction = coalesce(c.jurisdiction, $strictest_jurisdiction)
        LEFT JOIN campaign.suppressions s ON s.phone = c.phone AND (s.expires_at IS NULL OR s.expires_at > at.t)
        -- Each number's calls of the last three days (the caps of calls per number count them).
        LEFT JOIN (SELECT n.phone, array_agg(n.at) AS calls FROM campaign.number_calls n, at
                   WHERE n.at > at.t - interval '3 days' AND n.at <= at.t GROUP BY n.phone) nc
            ON nc.phone = c.phone
        LEFT JOIN (SELECT DISTINCT customer_id FROM campaign.campaign_jobs WHERE status IN ('QUEUED', 'ACTIVE')) o
            ON o.customer_id = c.id
        LEFT JOIN (SELECT j.customer_id FROM campaign.campaign_jobs j, day
                   WHERE j.auto_date = day.d AND j.campaign_id = $campaign_id::bigint) t
            ON t.customer_id = c.id
        WHERE NOT $members_only::bool
           OR c.id IN (SELECT m.customer_id FROM campaign.campaign_members m WHERE m.campaign_id = $campaign_id::bigint)
        """

    /// `automation.run` in one statement: classifies every customer by the first eligibility rule
    /// it fails (`campaign.eligibility_reason`, the same rules in the same order as
    /// `EligibilityPolicy`), enqueues the eligible ones in id order up to the cap left today
    /// (unless `dry_run`), and answers with counts: one row per reason and `eligible`, then
    /// `picked`, `enqueued`, `cap_remaining`, and the campaign day.
    ///
    /// The cap left = `daily_cap` − calls started today − jobs not yet dialing (they will call).
    /// Run under ``DialLimitsLock``, so two coordinators' runs cannot both spend the same cap.
    struct AutomationRun: Statement {
        static let sql = StatementSQL(
            "automation_run",
            """
            WITH \(eligibilityClock), used AS (
                SELECT (SELECT coalesce(sum(q.n), 0) FROM campaign.dial_counts_quarter q, day
                         WHERE q.campaign_id = $campaign_id::bigint AND q.bucket > day.start - interval '15 minutes')
                     + (SELECT count(*) FROM campaign.campaign_jobs
                         WHERE campaign_id = $campaign_id::bigint
                           AND (status = 'QUEUED' OR (status = 'ACTIVE' AND phase = 'CLAIMED'))) AS n
            ), classified AS (
                \(classifyCustomers)
            ), ranked AS (
                SELECT id, external_ref, row_number() OVER (ORDER BY id) AS rn FROM classified WHERE reason IS NULL
            ), picked AS (
                SELECT r.id, r.external_ref FROM ranked r, used WHERE r.rn <= greatest(0, $daily_cap::int - used.n)
            ), inserted AS (
                INSERT INTO campaign.campaign_jobs (queue_job_id, customer_id, reason, max_attempts, auto_date, campaign_id)
                -- The queue job id: AutomaticQueueJobID (CampaignCore), [<campaign>/]<external ref>:<date>.
                SELECT $queue_job_id_prefix || p.external_ref || ':' || day.d::text, p.id, 'automation',
                       $max_attempts::int, day.d, $campaign_id::bigint
                FROM picked p, day
                WHERE NOT $dry_run::bool
                -- One arbiter index (cheaper than all three unique ones); a clash on queue_job_id
                -- cannot happen: manual enqueues may not use the automatic `<ref>:<YYYY-MM-DD>` form.
                ON CONFLICT (customer_id, campaign_id, auto_date) DO NOTHING
                RETURNING 1
            )
            SELECT 'count' AS kind, coalesce(reason, 'eligible') AS k, count(*)::bigint AS n, NULL AS day
              FROM classified GROUP BY 2
            UNION ALL SELECT 'count', 'picked', count(*), NULL FROM picked
            UNION ALL SELECT 'count', 'enqueued', count(*), NULL FROM inserted
            UNION ALL SELECT 'count', 'cap_remaining', greatest(0, $daily_cap::int - n), NULL FROM used
            UNION ALL SELECT 'day', NULL, NULL, d::text FROM day
            """)
        var inputs: EligibilityInputs
        var dryRun: Bool
        /// What comes before `<ref>:<date>` in the campaign's automatic queue job ids.
        var queueJobIdPrefix = ""

        func bind(_ b: inout Bindings) {
            self.inputs.bind(&b)
            b.bind("queue_job_id_prefix", self.queueJobIdPrefix)
            b.bind("daily_cap", self.inputs.settings.dailyCap)
            b.bind("max_attempts", self.inputs.settings.maxAttempts)
            b.bind("dry_run", self.dryRun)
        }

        enum Row: Equatable {
            /// A count by name: a reason, `eligible`, `picked`, `enqueued` or `cap_remaining`.
            case count(String, Int)
            /// The campaign day judged (`YYYY-MM-DD`).
            case day(String)
        }

        static func decode(_ row: PQRow) throws -> Row {
            try row.string("kind") == "day"
                ? .day(try row.string("day")) : .count(try row.string("k"), try row.int("n"))
        }
    }

    /// The reason of every customer, as ``AutomationRun`` judges them, in id order: for tests
    /// that hold the SQL to the Swift policy, and for diagnostics.
    struct CustomersClassify: Statement {
        static let sql = StatementSQL(
            "customers_classify",
            """
            WITH \(eligibilityClock)
            SELECT id, reason FROM (\(classifyCustomers)) x ORDER BY id
            """)
        var inputs: EligibilityInputs

        func bind(_ b: inout Bindings) { self.inputs.bind(&b) }

        static func decode(_ row: PQRow) throws -> (id: Int64, reason: String?) { (try row.int64("id"), row["reason"]) }
    }
}
