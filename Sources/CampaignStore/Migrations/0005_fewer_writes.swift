enum Migration0005FewerWrites {
    /// Less PostgreSQL work per call (issue 11), measured in the drain benchmark's profile:
    ///
    /// - `(status, id)` only for the states found by status (QUEUED, FAILED, SKIPPED): ACTIVE jobs
    ///   are few and in the lease index, COMPLETED ones are most rows and an id scan finds them.
    ///   Each lease and each completion wrote an entry of it.
    /// - No index of the DIALING jobs: they are ACTIVE, and the lease index holds those (the count
    ///   of calls in progress reads it). The lease wrote an entry of it.
    /// - No foreign key from a call log to its customer: the call log's job names the customer
    ///   (`call_logs.customer_id` is the job's, copied in the report's transaction) and the job's
    ///   own key to the customer holds. Its check locked the customer row `FOR KEY SHARE` for
    ///   every call log: a WAL record and a dirtied customer page per call.
    /// - Call logs keep one unique key, `(job_id, attempt)` (at most one call per attempt), not
    ///   also one on the idempotency key: the key is `<queue_job_id>#<attempt>` of that job (the
    ///   store refuses a call record whose key is not), so the one implies the other, and every
    ///   report wrote and checked both.
    /// - Customers' pages keep a tenth free, so marking a customer called (`last_called_at`, no
    ///   index on it) can stay on the page without new index entries (a HOT update).
    /// - `campaign.ts` is STABLE, as `to_char` is: an IMMUTABLE SQL function with a STABLE body is
    ///   not inlined, so every formatted time ran the SQL-function executor (5 % of PostgreSQL's
    ///   CPU in a drain).
    static let migration = Migration(
        version: 5, name: "fewer_writes",
        sql: #"""
            DROP INDEX campaign.campaign_jobs_status_id;
            CREATE INDEX campaign_jobs_status_id ON campaign.campaign_jobs (status, id)
                WHERE status IN ('QUEUED', 'FAILED', 'SKIPPED');
            DROP INDEX campaign.campaign_jobs_dialing;
            ALTER TABLE campaign.call_logs DROP CONSTRAINT call_logs_customer_id_fkey;
            ALTER TABLE campaign.call_logs DROP CONSTRAINT call_logs_idempotency_key_key;
            ALTER TABLE campaign.customers SET (fillfactor = 90);
            CREATE OR REPLACE FUNCTION campaign.ts(t timestamptz) RETURNS text
                LANGUAGE sql STABLE PARALLEL SAFE
                RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
            """#)
}
