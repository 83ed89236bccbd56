-- pgbench script of scripts/bench-drain (CAMPAIGN_BENCH_RAW_DIALING=1): the raw limit of the
-- product's lease + dialing + complete SQL at batch :batch (pgbench -M prepared -D batch=B), the
-- three database transactions a job takes today (lease, jobs.dialing, jobs.complete), each for
-- B jobs at once. Same lease and report as lease_complete.sql.
--
-- 1. SQL.jobsLease (Sources/CampaignStore/SQL.swift at 785d785), $1 = agent id, $2 = :batch,
--    $3 = 60 s; the leased ids are kept in :ids, their customers in :cids (array literals).
WITH picked AS (
    SELECT id FROM campaign.campaign_jobs
    WHERE status = 'QUEUED' AND run_at <= now()
    ORDER BY priority DESC, run_at, id
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE campaign.campaign_jobs j
    SET status = 'ACTIVE', phase = 'CLAIMED', attempts_made = j.attempts_made + 1,
        lease_owner = 'pgbench-' || :client_id, lease_token = gen_random_uuid(),
        lease_expires_at = now() + make_interval(secs => 60),
        idempotency_key = NULL, last_report = NULL, started_at = now(), updated_at = now()
    FROM picked, campaign.customers c
    WHERE j.id = picked.id AND c.id = j.customer_id
    RETURNING j.id, j.queue_job_id, j.lease_token, j.attempts_made, j.max_attempts,
              campaign.ts(j.lease_expires_at) AS lease_expires_at, j.reason,
              c.id AS customer_id, c.external_ref, c.name, c.phone, c.timezone, c.attributes
)
SELECT coalesce(array_agg(id ORDER BY id), '{}')::text AS ids,
       coalesce(array_agg(customer_id ORDER BY customer_id), '{}')::text AS cids, count(*) AS leased
FROM leased
\gset
-- 2. The dialing transaction of jobs.dialing (PostgresJobStore.apply at 785d785): the dial-limits
--    lock, SQL.dialCounters (campaign timezone UTC, a 1 s rate window), SQL.jobsLockForReport,
--    SQL.jobsApplyTransitions (ACTIVE/DIALING with the idempotency key), SQL.customersMarkCalled,
--    SQL.dialEventsInsert, SQL.jobsReportView. Update it together with SQL.swift.
BEGIN;
SELECT pg_advisory_xact_lock(7301946512);
SELECT
    (SELECT count(*) FROM campaign.dial_events
      WHERE at >= (date_trunc('day', clock_timestamp() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')) AS today,
    (SELECT count(*) FROM campaign.campaign_jobs WHERE phase = 'DIALING') AS dialing,
    (SELECT count(*) FROM campaign.dial_events
      WHERE at > clock_timestamp() - make_interval(secs => 1::float8)) AS window,
    extract(epoch FROM clock_timestamp())::float8 AS now_epoch;
SELECT j.id, j.queue_job_id, j.status, j.phase, j.lease_token, j.lease_owner, j.attempts_made,
       j.max_attempts, j.customer_id, coalesce((j.result ->> 'reason') = 'outcome_unknown', false) AS outcome_unknown,
       j.last_report, c.status AS customer_status, c.phone, c.timezone,
       extract(epoch FROM c.last_called_at)::float8 AS last_called_epoch
FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
WHERE j.id = ANY(:ids::bigint[])
ORDER BY j.id
FOR UPDATE OF j;
UPDATE campaign.campaign_jobs j SET
    status = 'ACTIVE', phase = 'DIALING', run_at = j.run_at, result = j.result,
    idempotency_key = j.queue_job_id || '#' || j.attempts_made,
    max_attempts = j.max_attempts, last_report = 'dialing',
    lease_owner = j.lease_owner, lease_expires_at = j.lease_expires_at,
    completed_at = j.completed_at, failed_at = j.failed_at, updated_at = now()
FROM unnest(:ids::bigint[]) AS u(id)
WHERE j.id = u.id;
UPDATE campaign.customers c SET last_called_at = now()
FROM (SELECT id FROM campaign.customers WHERE id = ANY(:cids::bigint[]) ORDER BY id FOR UPDATE) r
WHERE c.id = r.id;
INSERT INTO campaign.dial_events (job_id) SELECT unnest(:ids::bigint[]);
SELECT id, status, attempts_made, campaign.ts(run_at) AS run_at, result
FROM campaign.campaign_jobs WHERE id = ANY(:ids::bigint[]);
COMMIT;
-- 3. The report transaction of jobs.complete: SQL.jobsLockForReport, SQL.jobsApplyTransitions
--    (COMPLETED, lease cleared, idempotency key kept), SQL.callLogsInsert (one ANSWERED call per
--    job), SQL.jobsReportView (the answers).
BEGIN;
SELECT j.id, j.queue_job_id, j.status, j.phase, j.lease_token, j.lease_owner, j.attempts_made,
       j.max_attempts, j.customer_id, coalesce((j.result ->> 'reason') = 'outcome_unknown', false) AS outcome_unknown,
       j.last_report, c.status AS customer_status, c.phone, c.timezone,
       extract(epoch FROM c.last_called_at)::float8 AS last_called_epoch
FROM campaign.campaign_jobs j JOIN campaign.customers c ON c.id = j.customer_id
WHERE j.id = ANY(:ids::bigint[])
ORDER BY j.id
FOR UPDATE OF j;
UPDATE campaign.campaign_jobs j SET
    status = 'COMPLETED', phase = NULL, run_at = j.run_at,
    result = coalesce('{"outcome": "ANSWERED"}'::jsonb, j.result),
    idempotency_key = coalesce(j.queue_job_id || '#' || j.attempts_made, j.idempotency_key),
    max_attempts = j.max_attempts, last_report = 'complete',
    lease_owner = NULL, lease_expires_at = NULL,
    completed_at = now(), failed_at = j.failed_at, updated_at = now()
FROM unnest(:ids::bigint[]) AS u(id)
WHERE j.id = u.id;
INSERT INTO campaign.call_logs (job_id, customer_id, campaign_id, attempt, agent, provider, provider_call_id,
    idempotency_key, started_at, ended_at, outcome, duration, detail)
SELECT j.id, j.customer_id, j.campaign_id, j.attempts_made, 'pgbench-' || :client_id, 'simulate', 'sim-' || j.id,
       j.queue_job_id || '#' || j.attempts_made, now(), now(), 'ANSWERED', interval '0', NULL
FROM campaign.campaign_jobs j WHERE j.id = ANY(:ids::bigint[])
ON CONFLICT DO NOTHING;
SELECT id, status, attempts_made, campaign.ts(run_at) AS run_at, result
FROM campaign.campaign_jobs WHERE id = ANY(:ids::bigint[]);
COMMIT;
