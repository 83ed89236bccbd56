-- pgbench script of scripts/bench-drain: the raw limit of the product's own SQL on the path the
-- drain takes today (jobs.lease with dial: true, then jobs.report with its call log), at batch
-- :batch (pgbench -M prepared -D batch=B). The statements are SQL.swift's at tree 03d01a4 (one campaign: default), in
-- the product's order; what the coordinator decides in Swift (every job dialed, every call
-- ANSWERED) is built here in SQL as the arrays it binds. Update it together with SQL+Leasing.swift and SQL+Limits.swift.
-- Unlike the product, pgbench sends one statement per round trip (the product pipelines each
-- transaction in two), so this limit is, if anything, low.
--
-- 1. The lease transaction: generic plans, the dial-limits lock, SQL.dialCounters (campaign
--    timezone UTC, a 1 s rate window), SQL.jobsLockDue (here inside a CTE that also builds the
--    arrays of the write), SQL.jobsLeaseWrite (ACTIVE/DIALING with the key), SQL.customersMarkCalled,
--    SQL.dialCountersAdd.
BEGIN;
SELECT set_config('plan_cache_mode', 'force_generic_plan', true);
SELECT pg_advisory_xact_lock(7301946512);
WITH clock AS MATERIALIZED (SELECT clock_timestamp() AS t),
dialing AS MATERIALIZED (
    SELECT campaign_id, count(*) AS n FROM campaign.campaign_jobs
    WHERE status = 'ACTIVE' AND phase = 'DIALING' GROUP BY campaign_id
),
provider AS MATERIALIZED (
    SELECT (SELECT coalesce(sum(n), 0) FROM dialing) AS dialing,
           (SELECT coalesce(sum(k.n), 0) FROM campaign.dial_counts_tick k
             WHERE k.bucket > clock.t - make_interval(secs => 1::float8) - interval '100 milliseconds')
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
LEFT JOIN unnest('{1}'::bigint[], '{UTC}'::text[]) AS g(id, tz) ON true
\gset
WITH due AS (
    SELECT j.*,
    CASE WHEN k.status = 'ENDED' OR k.ends_at <= now() THEN 'ENDED'
         WHEN k.status = 'PAUSED' THEN 'PAUSED'
         WHEN k.starts_at > now() THEN 'NOT_STARTED'
         ELSE 'ACTIVE' END AS campaign_gate,
    extract(epoch FROM k.starts_at)::float8 AS campaign_starts_epoch
    FROM campaign.campaigns k
    CROSS JOIN LATERAL (
        SELECT x.id, x.queue_job_id, x.status, x.phase, x.lease_token, x.lease_owner, x.attempts_made,
               x.max_attempts, x.customer_id, x.outcome_unknown, x.last_report, x.reason, x.campaign_id,
               x.priority, x.run_at,
               c.status AS customer_status, c.phone, c.timezone,
               extract(epoch FROM c.last_called_at)::float8 AS last_called_epoch,
               c.external_ref, c.name, c.attributes
        FROM campaign.campaign_jobs x JOIN campaign.customers c ON c.id = x.customer_id
        WHERE x.campaign_id = k.id AND x.status = 'QUEUED' AND x.run_at <= now()
        ORDER BY x.priority DESC, x.run_at, x.id
        LIMIT :batch
        FOR UPDATE OF x SKIP LOCKED
    ) j
    WHERE k.id = ANY('{1}'::bigint[]) AND k.status = 'ACTIVE'
      AND (k.starts_at IS NULL OR k.starts_at <= now()) AND (k.ends_at IS NULL OR k.ends_at > now())
    ORDER BY k.id, j.priority DESC, j.run_at, j.id
)
SELECT coalesce(array_agg(id ORDER BY id), '{}')::text AS ids,
       coalesce(array_agg(customer_id ORDER BY id), '{}')::text AS cids,
       coalesce(array_agg('ACTIVE'::text ORDER BY id), '{}')::text AS statuses,
       coalesce(array_agg('DIALING'::text ORDER BY id), '{}')::text AS phases,
       coalesce(array_agg('pgbench-' || :client_id ORDER BY id), '{}')::text AS owners,
       coalesce(array_agg(gen_random_uuid() ORDER BY id), '{}')::text AS tokens,
       coalesce(array_agg(queue_job_id || '#' || (attempts_made + 1) ORDER BY id), '{}')::text AS idems,
       coalesce(array_agg(NULL::jsonb ORDER BY id), '{}')::text AS results,
       coalesce(array_agg('dialing'::text ORDER BY id), '{}')::text AS dial_reports,
       coalesce(array_agg(attempts_made + 1 ORDER BY id), '{}')::text AS attempts,
       coalesce(array_agg('sim-' || queue_job_id || '#' || (attempts_made + 1) ORDER BY id), '{}')::text AS call_ids,
       count(*) AS n
FROM due
\gset
UPDATE campaign.campaign_jobs j SET
    status = u.status::campaign.campaign_job_status,
    phase = u.phase::campaign.job_phase,
    attempts_made = j.attempts_made + 1,
    lease_token = u.token,
    lease_owner = CASE WHEN u.status = 'ACTIVE' THEN u.owner END,
    lease_expires_at = CASE WHEN u.status = 'ACTIVE' THEN now() + make_interval(secs => 60::int) END,
    idempotency_key = u.idem,
    result = coalesce(u.result, j.result),
    last_report = u.last_report,
    started_at = now(), updated_at = now()
FROM unnest(:ids::bigint[], :statuses::text[], :phases::text[], :owners::text[], :tokens::uuid[], :idems::text[],
            :results::jsonb[], :dial_reports::text[])
    AS u(id, status, phase, owner, token, idem, result, last_report)
WHERE j.id = u.id
RETURNING j.id, campaign.ts(j.lease_expires_at) AS lease_expires_at;
UPDATE campaign.customers c SET last_called_at = now()
FROM (SELECT id FROM campaign.customers WHERE id = ANY(:cids::bigint[]) ORDER BY id FOR UPDATE) r
WHERE c.id = r.id;
WITH quarter AS (
    INSERT INTO campaign.dial_counts_quarter (campaign_id, bucket, n)
    SELECT u.id, to_timestamp(floor(:now_epoch::float8 / 900) * 900), u.n
    FROM unnest('{1}'::bigint[], ARRAY[:n]::bigint[]) AS u(id, n)
    ON CONFLICT (campaign_id, bucket) DO UPDATE SET n = campaign.dial_counts_quarter.n + EXCLUDED.n
)
INSERT INTO campaign.dial_counts_tick (bucket, n)
SELECT to_timestamp(floor(:now_epoch::float8 * 10) / 10), :n::bigint
ON CONFLICT (bucket) DO UPDATE SET n = campaign.dial_counts_tick.n + EXCLUDED.n;
COMMIT;
-- 2. The report transaction of jobs.report (complete, ANSWERED, with the call log):
--    SQL.jobsLockForReportOnly, SQL.callLogsInsert, SQL.jobsApplyTransitions (COMPLETED, lease
--    cleared; its RETURNING is the answers' view).
BEGIN;
SELECT j.id, j.queue_job_id, j.status, j.phase, j.lease_token, j.lease_owner, j.attempts_made,
       j.max_attempts, j.customer_id, j.campaign_id,
       j.outcome_unknown, j.last_report,
       NULL::text AS customer_status, NULL::text AS phone, NULL::text AS timezone,
       NULL::float8 AS last_called_epoch, j.reason, NULL::text AS external_ref, NULL::text AS name,
       NULL::text AS attributes
FROM campaign.campaign_jobs j
WHERE j.id = ANY(:ids::bigint[])
ORDER BY j.id
FOR UPDATE OF j;
INSERT INTO campaign.call_logs (job_id, customer_id, campaign_id, attempt, agent, provider, provider_call_id,
    idempotency_key, started_at, ended_at, outcome, duration, detail)
SELECT job_id, customer_id, 1, attempt, agent, provider, provider_call_id, idem, started_at, ended_at,
       outcome, duration_ms * interval '1 millisecond', detail
FROM unnest(:ids::bigint[], :cids::bigint[], :attempts::int[], :owners::text[],
            array_fill('simulate'::text, ARRAY[:n::int]), :call_ids::text[], :idems::text[],
            array_fill(now(), ARRAY[:n::int]), array_fill(now(), ARRAY[:n::int]),
            array_fill('ANSWERED'::text, ARRAY[:n::int]), array_fill(0::bigint, ARRAY[:n::int]),
            array_fill('{"simulated": true}'::jsonb, ARRAY[:n::int]))
    AS t(job_id, customer_id, attempt, agent, provider, provider_call_id, idem, started_at, ended_at,
         outcome, duration_ms, detail)
ON CONFLICT DO NOTHING;
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
FROM unnest(:ids::bigint[], array_fill('COMPLETED'::text, ARRAY[:n::int]), array_fill(NULL::text, ARRAY[:n::int]),
            array_fill(NULL::bigint, ARRAY[:n::int]), array_fill('{"outcome": "ANSWERED"}'::jsonb, ARRAY[:n::int]),
            array_fill(NULL::text, ARRAY[:n::int]), array_fill(NULL::int, ARRAY[:n::int]),
            array_fill('complete'::text, ARRAY[:n::int]), array_fill(false, ARRAY[:n::int]))
    AS u(id, status, phase, delay_ms, result, idem, max_attempts, last_report, outcome_unknown)
WHERE j.id = u.id
RETURNING j.id, j.status, j.attempts_made, campaign.ts(j.run_at) AS run_at, j.result;
COMMIT;
