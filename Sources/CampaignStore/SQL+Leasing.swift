import CampaignCore
import CampaignProtocol

// MARK: Jobs: leases

extension SQL.LocksJobs {
    static func decode(_ row: PQRow) throws -> LockedJob { try LockedJob(row: row) }
}

extension SQL {
    /// Generic plans for the rest of this transaction. The lease statements run many times a
    /// second; left to choose, PostgreSQL plans ``JobsLockDue`` anew on most calls (its `LIMIT`
    /// parameter makes the generic plan look costlier than the same plan made for the given
    /// limit), and that planning was a third of the lease's time in the database.
    struct ForceGenericPlans: Statement {
        static let sql = StatementSQL(
            "force_generic_plans", "SELECT set_config('plan_cache_mode', 'force_generic_plan', true)")
    }

    /// The columns of a ``LockedJob``: what the state machine needs of a locked job, plus the
    /// customer's and the campaign's state for the pre-dial check (from `c` and `k`, joined in
    /// ``lockedJobTables``).
    static let lockedJobColumns = """
        j.id, j.queue_job_id, j.status, j.phase, j.lease_token, j.lease_owner, j.attempts_made,
        j.max_attempts, j.customer_id, j.outcome_unknown,
        j.last_report,
        c.status AS customer_status, c.phone, c.timezone, c.region,
        extract(epoch FROM c.last_called_at)::float8 AS last_called_epoch,
        j.reason, c.external_ref, c.name, c.attributes, j.campaign_id, \(campaignGate),
        \(numberCallsOfCustomer) AS number_calls, \(suppressedNow) AS suppressed, c.consent IS NOT NULL AS has_consent
        """

    /// The tables of ``lockedJobColumns``.
    static let lockedJobTables = """
        campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
        JOIN campaign.campaigns k ON k.id = j.campaign_id
        """

    /// Whether campaign `k` lets its jobs be called now (``LockedJob/CampaignGate``).
    static let campaignGate = """
        CASE WHEN k.status = 'ENDED' OR k.ends_at <= now() THEN 'ENDED'
             WHEN k.status = 'PAUSED' THEN 'PAUSED'
             WHEN k.starts_at > now() THEN 'NOT_STARTED'
             ELSE 'ACTIVE' END AS campaign_gate,
        extract(epoch FROM k.starts_at)::float8 AS campaign_starts_epoch
        """

    /// A statement that locks jobs and answers them as rows of `lockedJobColumns`.
    protocol LocksJobs: Statement where Row == LockedJob {}

    /// Locks up to `limit` due jobs of each given campaign that is open now (ACTIVE, started,
    /// not past its end), best first within each, for a group commit of leases (the requests of
    /// every agent waiting at that moment): the store shares them out among the campaigns
    /// (``FairShare``). `SKIP LOCKED` keeps concurrent leasers (and coordinators) from ever
    /// taking the same row; the store then decides each lease with the state machine and writes
    /// them all with ``JobsLeaseWrite``. Rows it does not hand out stay QUEUED, locked only until
    /// the transaction ends.
    struct JobsLockDue: LocksJobs {
        static let sql = StatementSQL(
            "jobs_lock_due",
            """
            SELECT j.*, \(campaignGate), extract(epoch FROM now() - j.run_at)::float8 AS due_for_s
            FROM campaign.campaigns k
            CROSS JOIN LATERAL (
                -- The customer joined in here, under the LIMIT: one primary-key lookup per row
                -- locked. (Joined outside, the generic plan, which cannot see the limit, hashes
                -- the whole customers table for every lease.)
                SELECT x.id, x.queue_job_id, x.status, x.phase, x.lease_token, x.lease_owner, x.attempts_made,
                       x.max_attempts, x.customer_id, x.outcome_unknown, x.last_report, x.reason, x.campaign_id,
                       x.priority, x.run_at,
                       c.status AS customer_status, c.phone, c.timezone, c.region,
                       extract(epoch FROM c.last_called_at)::float8 AS last_called_epoch,
                       c.external_ref, c.name, c.attributes,
                       -- The number's calls, for a pre-dial check only (a probe of an index per row).
                       CASE WHEN $number_calls::bool THEN \(numberCallsOfCustomer) END AS number_calls,
                       CASE WHEN $number_calls::bool THEN \(suppressedNow) END AS suppressed,
                       c.consent IS NOT NULL AS has_consent
                FROM campaign.campaign_jobs x JOIN campaign.customers c ON c.id = x.customer_id
                WHERE x.campaign_id = k.id AND x.status = 'QUEUED' AND x.run_at <= now()
                ORDER BY x.priority DESC, x.run_at, x.id
                LIMIT $limit::int
                FOR UPDATE OF x SKIP LOCKED
            ) j
            WHERE k.id = ANY($campaign_ids::bigint[]) AND k.status = 'ACTIVE'
              AND (k.starts_at IS NULL OR k.starts_at <= now()) AND (k.ends_at IS NULL OR k.ends_at > now())
            ORDER BY k.id, j.priority DESC, j.run_at, j.id
            """)
        var limit: Int
        var campaignIds: [Int64]
        /// Whether the rows are for a pre-dial check (with each number's calls).
        var numberCalls = false

        func bind(_ b: inout Bindings) {
            b.bind("limit", self.limit)
            b.bind("campaign_ids", array: self.campaignIds)
            b.bind("number_calls", self.numberCalls)
        }
    }

    /// Writes decided leases: QUEUED → ACTIVE/CLAIMED, ACTIVE/DIALING (leased with the pre-dial
    /// check passed: `idem` set) or SKIPPED (refused by a rule at that check: `result` set);
    /// attempts_made + 1 and a fresh lease token each. Lease fields for `lease_seconds` while
    /// ACTIVE; the token is kept on a SKIPPED job, like every finished one. Answers each job's
    /// lease expiry (NULL when it is not ACTIVE).
    struct JobsLeaseWrite: Statement {
        static let sql = StatementSQL(
            "jobs_lease_write",
            """
            UPDATE campaign.campaign_jobs j SET
                status = u.status::campaign.campaign_job_status,
                phase = u.phase::campaign.job_phase,
                attempts_made = j.attempts_made + 1,
                lease_token = u.token,
                lease_owner = CASE WHEN u.status = 'ACTIVE' THEN u.owner END,
                lease_expires_at = CASE WHEN u.status = 'ACTIVE' THEN now() + make_interval(secs => $lease_seconds::int) END,
                idempotency_key = u.idem,
                result = coalesce(u.result, j.result),
                last_report = u.last_report,
                started_at = now(), updated_at = now()
            FROM unnest($ids::bigint[], $statuses::text[], $phases::text[], $owners::text[], $tokens::uuid[],
                        $idempotency_keys::text[], $results::jsonb[], $last_reports::text[])
                AS u(id, status, phase, owner, token, idem, result, last_report)
            WHERE j.id = u.id
            RETURNING j.id, campaign.ts(j.lease_expires_at) AS lease_expires_at
            """)
        var writes: [LeaseWrite]
        var leaseSeconds: Int

        func bind(_ b: inout Bindings) {
            b.bind("lease_seconds", self.leaseSeconds)
            b.bind("ids", array: self.writes.map { $0.id })
            b.bind("statuses", array: self.writes.map { $0.status.rawValue })
            b.bind("phases", array: self.writes.map { $0.phase?.rawValue })
            b.bind("owners", array: self.writes.map { $0.owner })
            b.bind("tokens", array: self.writes.map { $0.token })
            b.bind("idempotency_keys", array: self.writes.map { $0.idempotencyKey })
            b.bind("results", array: self.writes.map { w in w.result.map { JSONText.encode($0.json) } })
            b.bind("last_reports", array: self.writes.map { $0.lastReport?.rawValue })
        }

        static func decode(_ row: PQRow) throws -> (id: Int64, leaseExpiresAt: String?) {
            (try row.int64("id"), row["lease_expires_at"])
        }
    }

    /// Locks up to `limit` jobs whose lease ran out; rows another sweeper holds are skipped.
    struct JobsLockExpired: LocksJobs {
        static let sql = StatementSQL(
            "jobs_lock_expired",
            """
            SELECT \(lockedJobColumns)
            FROM \(lockedJobTables)
            WHERE j.status = 'ACTIVE' AND j.lease_expires_at < now()
            ORDER BY j.id
            LIMIT $limit::int
            FOR UPDATE OF j SKIP LOCKED
            """)
        var limit: Int
        func bind(_ b: inout Bindings) { b.bind("limit", self.limit) }
    }

    /// Locks the CLAIMED (not yet dialing) jobs of one lease owner, whose connection closed.
    struct JobsLockClaimedByOwner: LocksJobs {
        static let sql = StatementSQL(
            "jobs_lock_claimed_by_owner",
            """
            SELECT \(lockedJobColumns)
            FROM \(lockedJobTables)
            WHERE j.status = 'ACTIVE' AND j.phase = 'CLAIMED' AND j.lease_owner = $owner
            ORDER BY j.id
            FOR UPDATE OF j
            """)
        var owner: String
        func bind(_ b: inout Bindings) { b.bind("owner", self.owner) }
    }

    /// Moves still-current ACTIVE leases (matched by id and token) to a new owner (an agent's
    /// new connection) and extends them; answers the ids taken over.
    struct JobsAdoptLeases: Statement {
        static let sql = StatementSQL(
            "jobs_adopt_leases",
            """
            UPDATE campaign.campaign_jobs j
            SET lease_owner = $owner, lease_expires_at = now() + make_interval(secs => $lease_seconds::int)
            FROM (
                -- Lock in id order, as every multi-row writer does, so writers never deadlock.
                SELECT x.id FROM campaign.campaign_jobs x
                JOIN unnest($ids::bigint[], $tokens::uuid[]) AS u(id, token) ON x.id = u.id AND x.lease_token = u.token
                WHERE x.status = 'ACTIVE'
                ORDER BY x.id
                FOR UPDATE OF x
            ) r
            WHERE j.id = r.id
            RETURNING j.id
            """)
        var leases: [HeldLease]
        var owner: String
        var leaseSeconds: Int

        func bind(_ b: inout Bindings) {
            b.bind("owner", self.owner)
            b.bind("lease_seconds", self.leaseSeconds)
            b.bind("ids", array: self.leases.map(\.jobId))
            b.bind("tokens", array: self.leases.map(\.leaseToken))
        }

        static func decode(_ row: PQRow) throws -> Int64 { try row.int64("id") }
    }

    /// Extends every lease held by the given owners (the coordinator's connected agents) by
    /// `lease_seconds` from now: one statement per interval, no per-job heartbeats.
    ///
    /// Rows another transaction holds are skipped (it is changing them anyway; the next round
    /// renews them), so renewal never waits and never deadlocks. A lease started more than
    /// `maximum_age_seconds` ago is not renewed: a job an agent lost track of cannot stay ACTIVE
    /// forever just because the agent stays connected. Its count of rows is the jobs renewed.
    struct JobsRenewLeases: Statement {
        static let sql = StatementSQL(
            "jobs_renew_leases",
            """
            UPDATE campaign.campaign_jobs j
            SET lease_expires_at = now() + make_interval(secs => $lease_seconds::int)
            FROM (
                SELECT id FROM campaign.campaign_jobs
                WHERE status = 'ACTIVE' AND lease_owner = ANY($owners::text[])
                  AND started_at > now() - make_interval(secs => $maximum_age_seconds::int)
                ORDER BY id
                FOR UPDATE SKIP LOCKED
            ) r
            WHERE j.id = r.id
            """)
        var owners: [String]
        var leaseSeconds: Int
        var maximumAgeSeconds: Int

        func bind(_ b: inout Bindings) {
            b.bind("lease_seconds", self.leaseSeconds)
            b.bind("owners", array: self.owners)
            b.bind("maximum_age_seconds", self.maximumAgeSeconds)
        }
    }
}
