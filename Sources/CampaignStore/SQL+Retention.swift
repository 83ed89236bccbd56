import CampaignCore
import CampaignProtocol

/// Retention (issue 14): deletes in bounded batches, never one statement over a whole table.
/// Cutoffs are seconds since the epoch (`-infinity`: none goes), bound as float8. Each DELETE
/// names its rows by `= ANY(array(…))`, one table and no join, so a plan made while a table was
/// small (plans are generic) cannot become a nested loop over all of it.
extension SQL {
    /// How a cutoff is bound: seconds since the epoch, or `-infinity` (nothing is older).
    static func cutoff(_ seconds: Double?) -> String {
        seconds.map { String(format: "%.6f", $0) } ?? "-infinity"
    }

    /// One slice of the jobs, by id after `after`: deletes those of it finished (COMPLETED,
    /// SKIPPED, FAILED) and unchanged since their state's cutoff. Returns the slice's last id
    /// (nil: past the last job) and how many of each state went. The pruner walks the primary
    /// key slice by slice, so each statement reads and locks a bounded number of rows, and no
    /// index is kept for it.
    struct JobsPruneSlice: Statement {
        static let sql = StatementSQL(
            "jobs_prune_slice",
            """
            WITH slice AS (
                SELECT array(SELECT id FROM campaign.campaign_jobs WHERE id > $after::bigint ORDER BY id LIMIT $scan::int) AS ids
            ), gone AS (
                DELETE FROM campaign.campaign_jobs j
                WHERE j.id = ANY((SELECT ids FROM slice)::bigint[]) AND (
                       (j.status = 'COMPLETED' AND j.updated_at < to_timestamp($completed_before::float8))
                    OR (j.status = 'SKIPPED' AND j.updated_at < to_timestamp($skipped_before::float8))
                    OR (j.status = 'FAILED' AND j.updated_at < to_timestamp($failed_before::float8)))
                RETURNING j.status
            )
            SELECT (SELECT ids[cardinality(ids)] FROM slice) AS last_id,
                   count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed,
                   count(*) FILTER (WHERE status = 'SKIPPED')::int AS skipped,
                   count(*) FILTER (WHERE status = 'FAILED')::int AS failed
            FROM gone
            """)
        var after: Int64
        var scan: Int
        var cutoffs: Retention.Cutoffs
        func bind(_ b: inout Bindings) {
            b.bind("after", self.after)
            b.bind("scan", self.scan)
            b.bind("completed_before", SQL.cutoff(self.cutoffs.completed))
            b.bind("skipped_before", SQL.cutoff(self.cutoffs.skipped))
            b.bind("failed_before", SQL.cutoff(self.cutoffs.failed))
        }
        static func decode(_ r: PQRow) throws -> (lastId: Int64?, completed: Int, skipped: Int, failed: Int) {
            (r["last_id"].flatMap { Int64($0) }, try r.int("completed"), try r.int("skipped"), try r.int("failed"))
        }
    }

    /// Up to `limit` of the oldest call logs (by the call's time) older than the cutoff.
    struct CallLogsPrune: Statement {
        static let sql = StatementSQL(
            "call_logs_prune",
            """
            WITH gone AS (
                DELETE FROM campaign.call_logs
                WHERE id = ANY(array(
                    SELECT id FROM campaign.call_logs
                    WHERE coalesce(started_at, created_at) < to_timestamp($before::float8)
                    ORDER BY coalesce(started_at, created_at), id LIMIT $limit::int))
                RETURNING 1
            )
            SELECT count(*)::int AS n FROM gone
            """)
        var before: Double?
        var limit: Int
        func bind(_ b: inout Bindings) {
            b.bind("before", SQL.cutoff(self.before))
            b.bind("limit", self.limit)
        }
        static func decode(_ r: PQRow) throws -> Int { try r.int("n") }
    }

    /// Up to `limit` of the oldest rows of each audit table (dial refusals, suppression changes)
    /// older than the cutoff (the call logs'): they are the same compliance record.
    struct AuditPrune: Statement {
        static let sql = StatementSQL(
            "audit_prune",
            """
            WITH r AS (
                DELETE FROM campaign.dial_refusals WHERE id = ANY(array(
                    SELECT id FROM campaign.dial_refusals WHERE at < to_timestamp($before::float8) ORDER BY at LIMIT $limit::int))
                RETURNING 1
            ), s AS (
                DELETE FROM campaign.suppression_changes WHERE id = ANY(array(
                    SELECT id FROM campaign.suppression_changes WHERE at < to_timestamp($before::float8) ORDER BY at LIMIT $limit::int))
                RETURNING 1
            )
            SELECT ((SELECT count(*) FROM r) + (SELECT count(*) FROM s))::int AS n
            """)
        var before: Double?
        var limit: Int
        func bind(_ b: inout Bindings) {
            b.bind("before", SQL.cutoff(self.before))
            b.bind("limit", self.limit)
        }
        static func decode(_ r: PQRow) throws -> Int { try r.int("n") }
    }

    /// Of the first `limit` numbered events, those older than the cutoff (events are numbered
    /// about in the order of their time, so the oldest come first).
    struct EventsPrune: Statement {
        static let sql = StatementSQL(
            "events_prune",
            """
            WITH gone AS (
                DELETE FROM campaign.job_events
                WHERE seq = ANY(array(SELECT seq FROM campaign.job_events WHERE seq IS NOT NULL ORDER BY seq LIMIT $limit::int))
                  AND at < to_timestamp($before::float8)
                RETURNING 1
            )
            SELECT count(*)::int AS n FROM gone
            """)
        var before: Double?
        var limit: Int
        func bind(_ b: inout Bindings) {
            b.bind("before", SQL.cutoff(self.before))
            b.bind("limit", self.limit)
        }
        static func decode(_ r: PQRow) throws -> Int { try r.int("n") }
    }

    /// What the cutoffs would delete (`campaign-ctl prune --dry-run`): one read of each table.
    struct RetentionPrunable: Statement {
        static let sql = StatementSQL(
            "retention_prunable",
            """
            SELECT
                (SELECT count(*) FROM campaign.campaign_jobs
                 WHERE status = 'COMPLETED' AND updated_at < to_timestamp($completed_before::float8))::int AS completed,
                (SELECT count(*) FROM campaign.campaign_jobs
                 WHERE status = 'SKIPPED' AND updated_at < to_timestamp($skipped_before::float8))::int AS skipped,
                (SELECT count(*) FROM campaign.campaign_jobs
                 WHERE status = 'FAILED' AND updated_at < to_timestamp($failed_before::float8))::int AS failed,
                (SELECT count(*) FROM campaign.call_logs
                 WHERE coalesce(started_at, created_at) < to_timestamp($call_logs_before::float8))::int AS call_logs,
                (SELECT count(*) FROM campaign.job_events
                 WHERE seq IS NOT NULL AND at < to_timestamp($events_before::float8))::int AS events,
                ((SELECT count(*) FROM campaign.dial_refusals WHERE at < to_timestamp($call_logs_before::float8))
                 + (SELECT count(*) FROM campaign.suppression_changes WHERE at < to_timestamp($call_logs_before::float8)))::int
                    AS audit
            """)
        var cutoffs: Retention.Cutoffs
        func bind(_ b: inout Bindings) {
            b.bind("completed_before", SQL.cutoff(self.cutoffs.completed))
            b.bind("skipped_before", SQL.cutoff(self.cutoffs.skipped))
            b.bind("failed_before", SQL.cutoff(self.cutoffs.failed))
            b.bind("call_logs_before", SQL.cutoff(self.cutoffs.callLogs))
            b.bind("events_before", SQL.cutoff(self.cutoffs.events))
        }
        static func decode(_ r: PQRow) throws -> PruneCounts {
            PruneCounts(
                completed: try r.int("completed"), skipped: try r.int("skipped"), failed: try r.int("failed"),
                callLogs: try r.int("call_logs"), events: try r.int("events"), audit: try r.int("audit"))
        }
    }
}
