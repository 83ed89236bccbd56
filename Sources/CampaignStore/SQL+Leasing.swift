// MARK: Jobs: agent side

extension SQL {
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
        j.max_attempts, j.customer_id, j.outcome_unknown,
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
               j.outcome_unknown, j.last_report,
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
            outcome_unknown = u.outcome_unknown,
            lease_owner = CASE WHEN u.status = 'ACTIVE' THEN j.lease_owner END,
            lease_expires_at = CASE WHEN u.status = 'ACTIVE' THEN j.lease_expires_at END,
            completed_at = CASE WHEN u.status = 'COMPLETED' THEN now() ELSE j.completed_at END,
            failed_at = CASE WHEN u.status = 'FAILED' THEN now() ELSE j.failed_at END,
            updated_at = now()
        FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::jsonb[], $6::text[], $7::int[],
                    $8::text[], $9::boolean[])
            AS u(id, status, phase, delay_ms, result, idem, max_attempts, last_report, outcome_unknown)
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
}
