-- "A day of calls" for the drain benchmark (scripts/bench-drain, step "pickup on a full day"):
-- :calls COMPLETED jobs started today, each with its call log and its counted start, so that the
-- pre-dial check runs against a database that already holds a day's worth of calls.
--
--   psql -X -v ON_ERROR_STOP=1 -v calls=1000000 -v tz=UTC -f bench/drain/seed_day.sql DBURL
--
-- :tz is the campaign timezone (automation setting `timezone`): "today" starts at its midnight.
-- The calls are spread evenly from max(that midnight, now - 8 h) to 5 s ago, so they are all
-- "today" for the daily cap, and at most one second's worth of them (calls / span) falls into the
-- rate window. The jobs belong to the existing customers in turn (customer ids must exist: the
-- bench imports its customers first); they are manual jobs (auto_date NULL), so they do not make
-- any customer ineligible, and none of them is open.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
BEGIN;

CREATE TEMP TABLE seed_day ON COMMIT DROP AS
WITH bounds AS (
    SELECT greatest(date_trunc('day', now() AT TIME ZONE :'tz') AT TIME ZONE :'tz',
                    now() - interval '8 hours') AS first_at,
           now() - interval '5 seconds' AS last_at
), customers AS (
    SELECT array_agg(id ORDER BY id) AS ids FROM campaign.customers
)
SELECT g AS n,
       nextval(pg_get_serial_sequence('campaign.campaign_jobs', 'id')) AS job_id,
       customers.ids[1 + (g - 1) % cardinality(customers.ids)] AS customer_id,
       'day-' || g AS queue_job_id,
       b.first_at + (b.last_at - b.first_at) * ((g - 0.5) / :calls) AS at
FROM generate_series(1, :calls) AS g, bounds b, customers;

INSERT INTO campaign.campaign_jobs (id, queue_job_id, customer_id, status, attempts_made, max_attempts, priority,
                                    run_at, reason, result, lease_token, idempotency_key, last_report,
                                    enqueued_at, started_at, completed_at, updated_at)
SELECT job_id, queue_job_id, customer_id, 'COMPLETED', 1, 3, 0,
       at - interval '1 second', 'seed day', '{"outcome": "ANSWERED"}'::jsonb, gen_random_uuid(),
       queue_job_id || '#1', 'complete',
       at - interval '1 second', at, at + interval '2 seconds', at + interval '2 seconds'
FROM seed_day ORDER BY n;

INSERT INTO campaign.call_logs (job_id, customer_id, campaign_id, attempt, agent, provider, provider_call_id,
                                idempotency_key, started_at, ended_at, outcome, duration, detail, created_at)
SELECT job_id, customer_id, 1, 1, 'seed-agent', 'simulate', 'sim-day-' || n, queue_job_id || '#1',
       at, at + interval '2 seconds', 'ANSWERED', interval '2 seconds', NULL, at + interval '2 seconds'
FROM seed_day ORDER BY n;

-- One audit row per call start, in builds before migration 0004 (which dropped the table).
DO $$
BEGIN
    IF to_regclass('campaign.dial_events') IS NOT NULL THEN
        INSERT INTO campaign.dial_events (at, job_id) SELECT at, job_id FROM seed_day ORDER BY n;
    END IF;
END
$$;

-- counters
-- The incremental call-start counters of the pre-dial check (migration 0003; absent in builds
-- before it, which count dial_events instead), filled as the coordinator fills them.
DO $$
BEGIN
    IF to_regclass('campaign.dial_counts_quarter') IS NOT NULL THEN
        -- Per campaign since migration 0009 (the default campaign's, id 1, by the column's default).
        IF EXISTS (SELECT 1 FROM information_schema.columns
                   WHERE table_schema = 'campaign' AND table_name = 'dial_counts_quarter' AND column_name = 'campaign_id') THEN
            INSERT INTO campaign.dial_counts_quarter (bucket, n)
            SELECT to_timestamp(floor(extract(epoch FROM at) / 900) * 900), count(*) FROM seed_day GROUP BY 1
            ON CONFLICT (campaign_id, bucket) DO UPDATE SET n = campaign.dial_counts_quarter.n + EXCLUDED.n;
        ELSE
            INSERT INTO campaign.dial_counts_quarter (bucket, n)
            SELECT to_timestamp(floor(extract(epoch FROM at) / 900) * 900), count(*) FROM seed_day GROUP BY 1
            ON CONFLICT (bucket) DO UPDATE SET n = campaign.dial_counts_quarter.n + EXCLUDED.n;
        END IF;
        INSERT INTO campaign.dial_counts_tick (bucket, n)
        SELECT to_timestamp(floor(extract(epoch FROM at) * 10) / 10), count(*) FROM seed_day
        WHERE at > now() - interval '10 minutes' GROUP BY 1
        ON CONFLICT (bucket) DO UPDATE SET n = campaign.dial_counts_tick.n + EXCLUDED.n;
    END IF;
END
$$;

COMMIT;
