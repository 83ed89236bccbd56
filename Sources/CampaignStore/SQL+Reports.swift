import CampaignCore
import CampaignProtocol
import Foundation

// MARK: Jobs: what agents report

extension SQL {
    /// Locks the jobs named in a batch of agent requests (in id order, so batches never deadlock).
    struct JobsLockForReport: LocksJobs {
        static let sql = StatementSQL(
            "jobs_lock_for_report",
            """
            SELECT \(lockedJobColumns)
            FROM \(lockedJobTables)
            WHERE j.id = ANY($ids::bigint[])
            ORDER BY j.id
            FOR UPDATE OF j
            """)
        var ids: [Int64]
        func bind(_ b: inout Bindings) { b.bind("ids", array: self.ids) }
    }

    /// ``lockedJobColumns`` without the customer's (NULL, which ``LockedJob`` reads as a number
    /// that may not be called) or the campaign's: for locks that need the job alone.
    static let jobOnlyColumns = """
        j.id, j.queue_job_id, j.status, j.phase, j.lease_token, j.lease_owner, j.attempts_made,
        j.max_attempts, j.customer_id, j.campaign_id, j.outcome_unknown, j.last_report,
        NULL::text AS customer_status, NULL::text AS phone, NULL::text AS timezone, NULL::text AS region, NULL::text AS number_calls, false AS suppressed, false AS has_consent,
        NULL::float8 AS last_called_epoch, j.reason, NULL::text AS external_ref, NULL::text AS name,
        NULL::text AS attributes
        """

    /// ``JobsLockForReport`` for a batch with no pre-dial check in it: the job's columns only
    /// (the customer's come back NULL, which ``LockedJob`` reads as a number that may not be
    /// called), so reports neither join the customers nor carry their attributes.
    struct JobsLockForReportOnly: LocksJobs {
        static let sql = StatementSQL(
            "jobs_lock_for_report_only",
            """
            SELECT \(jobOnlyColumns)
            FROM campaign.campaign_jobs j
            WHERE j.id = ANY($ids::bigint[])
            ORDER BY j.id
            FOR UPDATE OF j
            """)
        var ids: [Int64]
        func bind(_ b: inout Bindings) { b.bind("ids", array: self.ids) }
    }

    /// What an answer to a report shows of a job (``ReportView``).
    static let reportViewColumns = "j.id, j.status, j.attempts_made, campaign.ts(j.run_at) AS run_at, j.result"

    /// Applies the state machine's transitions to many jobs at once. Lease fields are kept while
    /// ACTIVE and cleared otherwise; the lease token is kept, so a resent report is recognised.
    /// Answers each written job's report view.
    struct JobsApplyTransitions: Statement {
        static let sql = StatementSQL(
            "jobs_apply_transitions",
            """
            UPDATE campaign.campaign_jobs j SET
                status = u.status::campaign.campaign_job_status,
                phase = u.phase::campaign.job_phase,
                run_at = CASE WHEN u.run_at_us IS NOT NULL THEN 'epoch'::timestamptz + u.run_at_us * interval '1 microsecond'
                              WHEN u.delay_ms IS NULL THEN j.run_at
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
            FROM unnest($ids::bigint[], $statuses::text[], $phases::text[], $delays_ms::bigint[], $results::jsonb[],
                        $idempotency_keys::text[], $max_attempts::int[], $last_reports::text[],
                        $outcome_unknown::boolean[], $run_ats_us::bigint[])
                AS u(id, status, phase, delay_ms, result, idem, max_attempts, last_report, outcome_unknown, run_at_us)
            WHERE j.id = u.id
            RETURNING \(reportViewColumns)
            """)
        var writes: [TransitionWrite]

        func bind(_ b: inout Bindings) {
            b.bind("ids", array: self.writes.map { $0.id })
            b.bind("statuses", array: self.writes.map { $0.write.status.rawValue })
            b.bind("phases", array: self.writes.map { $0.write.phase?.rawValue })
            b.bind("delays_ms", array: self.writes.map { $0.write.delayMs })
            b.bind("results", array: self.writes.map { r in r.write.result.map { JSONText.encode($0.json) } })
            b.bind("idempotency_keys", array: self.writes.map { $0.write.idempotencyKey?.description })
            b.bind("max_attempts", array: self.writes.map { $0.write.maxAttempts })
            b.bind("last_reports", array: self.writes.map { $0.write.lastReport?.rawValue })
            b.bind("outcome_unknown", array: self.writes.map { $0.write.outcomeUnknown })
            b.bind("run_ats_us", array: self.writes.map { w in w.write.runAt.map(JobsDefer.micros) })
        }

        static func decode(_ row: PQRow) throws -> ReportView { try ReportView(row: row) }
    }

    /// Puts jobs whose pre-dial check said "not yet" back in the queue, due at `run_ats_us`
    /// (microseconds since 1970) with the attempts the state machine gave back; the lease ends.
    /// Answers each job's report view. Rare (only deferrals), so kept apart from the transitions
    /// statement every report runs.
    struct JobsDefer: Statement {
        static let sql = StatementSQL(
            "jobs_defer",
            """
            UPDATE campaign.campaign_jobs j SET
                status = 'QUEUED', phase = NULL,
                run_at = 'epoch'::timestamptz + u.run_at_us * interval '1 microsecond',
                attempts_made = u.attempts, result = u.result, last_report = u.last_report,
                lease_owner = NULL, lease_expires_at = NULL, updated_at = now()
            FROM unnest($ids::bigint[], $run_ats_us::bigint[], $attempts::int[], $results::jsonb[], $last_reports::text[])
                AS u(id, run_at_us, attempts, result, last_report)
            WHERE j.id = u.id
            RETURNING \(reportViewColumns)
            """)
        var writes: [TransitionWrite]

        func bind(_ b: inout Bindings) {
            b.bind("ids", array: self.writes.map { $0.id })
            b.bind("run_ats_us", array: self.writes.map { w in w.write.runAt.map(Self.micros) })
            b.bind("attempts", array: self.writes.map { $0.write.attemptsMade })
            b.bind("results", array: self.writes.map { r in r.write.result.map { JSONText.encode($0.json) } })
            b.bind("last_reports", array: self.writes.map { $0.write.lastReport?.rawValue })
        }

        /// Whole microseconds since 1970, rounded up: a job is never due before its instant.
        static func micros(_ d: Date) -> Int64 {
            Int64((d.timeIntervalSinceReferenceDate * 1_000_000).rounded(.up)) + 978_307_200_000_000
        }

        static func decode(_ row: PQRow) throws -> ReportView { try ReportView(row: row) }
    }

    /// The report view of jobs a batch did not write (a replayed report), for the answers; the
    /// written ones come back from ``JobsApplyTransitions`` itself.
    struct JobsReportView: Statement {
        static let sql = StatementSQL(
            "jobs_report_view",
            """
            SELECT \(reportViewColumns)
            FROM campaign.campaign_jobs j WHERE j.id = ANY($ids::bigint[])
            """)
        var ids: [Int64]
        func bind(_ b: inout Bindings) { b.bind("ids", array: self.ids) }
        static func decode(_ row: PQRow) throws -> ReportView { try ReportView(row: row) }
    }

    /// Marks the customers of jobs that started dialing as called now (the cooldown counts from here).
    struct CustomersMarkCalled: Statement {
        static let sql = StatementSQL(
            "customers_mark_called",
            """
            UPDATE campaign.customers c SET last_called_at = now()
            FROM (SELECT id FROM campaign.customers WHERE id = ANY($ids::bigint[]) ORDER BY id FOR UPDATE) r
            WHERE c.id = r.id
            """)
        var customerIds: [Int64]
        func bind(_ b: inout Bindings) { b.bind("ids", array: self.customerIds) }
    }

    /// Keeps the call log of every placed call, whatever became of its job; a resent report
    /// (same idempotency key) adds nothing.
    struct CallLogsInsert: Statement {
        static let sql = StatementSQL(
            "call_logs_insert",
            """
            INSERT INTO campaign.call_logs (job_id, customer_id, campaign_id, attempt, agent, provider, provider_call_id,
                idempotency_key, started_at, ended_at, outcome, duration, detail)
            SELECT job_id, customer_id, campaign_id, attempt, agent, provider, provider_call_id, idem, started_at, ended_at,
                   outcome, duration_ms * interval '1 millisecond', detail
            FROM unnest($job_ids::bigint[], $customer_ids::bigint[], $campaign_ids::bigint[], $attempts::int[],
                        $agents::text[], $providers::text[], $provider_call_ids::text[], $idempotency_keys::text[],
                        $started_ats::timestamptz[], $ended_ats::timestamptz[], $outcomes::text[],
                        $durations_ms::bigint[], $details::jsonb[])
                AS t(job_id, customer_id, campaign_id, attempt, agent, provider, provider_call_id, idem, started_at,
                     ended_at, outcome, duration_ms, detail)
            ON CONFLICT (job_id, attempt) DO UPDATE SET
                outcome = EXCLUDED.outcome, duration = EXCLUDED.duration, detail = EXCLUDED.detail,
                provider_call_id = coalesce(EXCLUDED.provider_call_id, call_logs.provider_call_id),
                ended_at = coalesce(EXCLUDED.ended_at, call_logs.ended_at)
            WHERE call_logs.detail ->> 'outcomeKnown' = 'false'
              AND coalesce(EXCLUDED.detail ->> 'outcomeKnown', '') <> 'false'
            RETURNING job_id, outcome, extract(epoch FROM duration)::float8 AS duration_s
            """)
        var calls: [CallLogWrite]

        /// A call log written now, or one of an unknown outcome that this report's known outcome
        /// replaced (a late report, a reconciliation: issue 16). One already there from a resent
        /// report is kept and not answered.
        static func decode(_ row: PQRow) throws -> (jobId: Int64, outcome: String, durationSeconds: Double?) {
            (try row.int64("job_id"), try row.string("outcome"), row["duration_s"].flatMap(Double.init))
        }

        func bind(_ b: inout Bindings) {
            b.bind("job_ids", array: self.calls.map { $0.jobId })
            b.bind("customer_ids", array: self.calls.map { $0.customerId })
            b.bind("campaign_ids", array: self.calls.map { $0.campaignId })
            b.bind("attempts", array: self.calls.map { $0.attempt })
            b.bind("agents", array: self.calls.map { $0.agent })
            b.bind("providers", array: self.calls.map { $0.call.provider })
            b.bind("provider_call_ids", array: self.calls.map { $0.call.providerCallId })
            b.bind("idempotency_keys", array: self.calls.map { $0.call.idempotencyKey })
            b.bind("started_ats", array: self.calls.map { $0.call.startedAt })
            b.bind("ended_ats", array: self.calls.map { $0.call.endedAt })
            b.bind("outcomes", array: self.calls.map { $0.call.outcome.rawValue })
            b.bind("durations_ms", array: self.calls.map { $0.call.durationMs })
            b.bind("details", array: self.calls.map { r in r.call.detail.map { JSONText.encode($0) } })
        }
    }
}
