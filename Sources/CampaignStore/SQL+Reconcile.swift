import CampaignCore
import CampaignProtocol

// MARK: Unknown outcomes: lookups at the provider (issue 16)

extension SQL {
    /// Hands out up to `max` jobs FAILED `outcome_unknown` that are due for a lookup: within
    /// `window_s` seconds of their failure (or an admin's `reconcile_until`), not looked up in the
    /// last `interval_s` seconds, and whose call was logged by the asking agent's placer or not
    /// logged at all. Each is due again one interval later and counts one lookup more. `SKIP
    /// LOCKED`: two agents asking at once never get the same job.
    struct JobsReconcileLease: Statement {
        static let sql = StatementSQL(
            "jobs_reconcile_lease",
            """
            WITH due AS (
                SELECT j.id, l.provider, l.provider_call_id
                FROM campaign.campaign_jobs j
                LEFT JOIN campaign.call_logs l ON l.job_id = j.id AND l.attempt = j.attempts_made
                WHERE j.outcome_unknown AND j.status = 'FAILED' AND j.idempotency_key IS NOT NULL
                  AND j.lease_token IS NOT NULL
                  AND (j.failed_at > now() - $window_s::bigint * interval '1 second' OR j.reconcile_until > now())
                  AND (j.reconcile_at IS NULL OR j.reconcile_at <= now())
                  AND (l.provider IS NULL OR l.provider = $provider)
                ORDER BY j.reconcile_at NULLS FIRST, j.id
                LIMIT $max
                FOR UPDATE OF j SKIP LOCKED
            )
            UPDATE campaign.campaign_jobs j SET
                reconcile_at = now() + $interval_s::bigint * interval '1 second', lookups = j.lookups + 1
            FROM due, campaign.customers c
            WHERE j.id = due.id AND c.id = j.customer_id
            RETURNING j.id, j.queue_job_id, j.lease_token, j.attempts_made, j.max_attempts, j.reason,
                j.idempotency_key, j.lookups, due.provider, due.provider_call_id,
                c.id AS customer_id, c.external_ref, c.name, c.phone, c.timezone, c.attributes
            """)
        var max: Int
        var provider: String
        var intervalSeconds: Int
        var windowSeconds: Int

        func bind(_ b: inout Bindings) {
            b.bind("max", self.max)
            b.bind("provider", self.provider)
            b.bind("interval_s", self.intervalSeconds)
            b.bind("window_s", self.windowSeconds)
        }

        static func decode(_ r: PQRow) throws -> UnknownCall {
            UnknownCall(
                jobId: try r.int64("id"), queueJobId: try r.string("queue_job_id"), leaseToken: try r.string("lease_token"),
                attempt: try r.int("attempts_made"), maxAttempts: try r.int("max_attempts"), reason: r["reason"],
                customer: CallTarget(
                    customerId: try r.int64("customer_id"), externalRef: try r.string("external_ref"),
                    name: try r.string("name"), phone: try r.string("phone"), timezone: try r.string("timezone"),
                    attributes: JSONText.decode(r["attributes"])),
                idempotencyKey: try r.string("idempotency_key"), providerCallId: r["provider_call_id"],
                provider: r["provider"], lookups: try r.int("lookups"))
        }
    }

    /// Makes jobs FAILED `outcome_unknown` due for a lookup now and for `window_s` seconds from
    /// now (`jobs.reconcileNow`); answers the ids changed.
    struct JobsReconcileNow: Statement {
        static let sql = StatementSQL(
            "jobs_reconcile_now",
            """
            UPDATE campaign.campaign_jobs j SET
                reconcile_at = NULL, reconcile_until = now() + $window_s::bigint * interval '1 second'
            WHERE j.id = ANY($ids::bigint[]) AND j.outcome_unknown AND j.status = 'FAILED'
            RETURNING j.id
            """)
        var ids: [Int64]
        var windowSeconds: Int

        func bind(_ b: inout Bindings) {
            b.bind("ids", array: self.ids)
            b.bind("window_s", self.windowSeconds)
        }

        static func decode(_ r: PQRow) throws -> Int64 { try r.int64("id") }
    }
}
