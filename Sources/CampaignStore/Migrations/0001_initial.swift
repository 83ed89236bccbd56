enum Migration0001Initial {
    static let migration = Migration(
        version: 1, name: "initial",
        sql: #"""
            CREATE TYPE campaign.campaign_job_status AS ENUM ('QUEUED', 'ACTIVE', 'COMPLETED', 'FAILED', 'SKIPPED');
            CREATE TYPE campaign.job_phase AS ENUM ('CLAIMED', 'DIALING');
            CREATE TYPE campaign.customer_status AS ENUM
                ('ACTIVE', 'OPTED_OUT', 'DO_NOT_CALL', 'CONVERTED', 'INVALID_NUMBER');

            -- RFC 3339 UTC with milliseconds, the wire format of every time.
            CREATE FUNCTION campaign.ts(t timestamptz) RETURNS text
                LANGUAGE sql IMMUTABLE PARALLEL SAFE
                RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');

            CREATE TABLE campaign.customers (
                id             bigserial PRIMARY KEY,
                external_ref   text NOT NULL UNIQUE CHECK (length(external_ref) BETWEEN 1 AND 200),
                name           text NOT NULL DEFAULT '',
                phone          text NOT NULL,
                timezone       text NOT NULL,
                status         campaign.customer_status NOT NULL DEFAULT 'ACTIVE',
                last_called_at timestamptz,
                attributes     jsonb NOT NULL DEFAULT '{}',
                created_at     timestamptz NOT NULL DEFAULT now(),
                updated_at     timestamptz NOT NULL DEFAULT now()
            );

            CREATE TABLE campaign.campaign_jobs (
                id               bigserial PRIMARY KEY,
                queue_job_id     text NOT NULL UNIQUE,
                customer_id      bigint NOT NULL REFERENCES campaign.customers (id),
                status           campaign.campaign_job_status NOT NULL DEFAULT 'QUEUED',
                attempts_made    integer NOT NULL DEFAULT 0 CHECK (attempts_made >= 0),
                max_attempts     integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
                priority         integer NOT NULL DEFAULT 0,
                run_at           timestamptz NOT NULL DEFAULT now(),
                reason           text,
                result           jsonb,
                lease_owner      text,
                lease_token      uuid,
                lease_expires_at timestamptz,
                phase            campaign.job_phase,
                idempotency_key  text,
                -- The agent request that brought the job into its state under lease_token (resends replay it).
                last_report      text CHECK (last_report IN ('dialing', 'complete', 'fail', 'skip')),
                enqueued_at      timestamptz NOT NULL DEFAULT now(),
                started_at       timestamptz,
                completed_at     timestamptz,
                failed_at        timestamptz,
                updated_at       timestamptz NOT NULL DEFAULT now(),
                -- A phase exactly while ACTIVE, and an ACTIVE job always holds a whole lease.
                CONSTRAINT phase_iff_active CHECK ((status = 'ACTIVE') = (phase IS NOT NULL)),
                CONSTRAINT active_has_lease CHECK (
                    status <> 'ACTIVE'
                    OR (lease_owner IS NOT NULL AND lease_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
                CONSTRAINT dialing_has_key CHECK (phase IS DISTINCT FROM 'DIALING' OR idempotency_key IS NOT NULL),
                CONSTRAINT attempts_started CHECK (status <> 'ACTIVE' OR attempts_made >= 1)
            );
            -- The lease query walks this index in order.
            CREATE INDEX campaign_jobs_ready ON campaign.campaign_jobs (priority DESC, run_at, id)
                WHERE status = 'QUEUED';
            -- The expiry sweep and lease renewal.
            CREATE INDEX campaign_jobs_leases ON campaign.campaign_jobs (lease_expires_at)
                WHERE status = 'ACTIVE';
            CREATE INDEX campaign_jobs_status_id ON campaign.campaign_jobs (status, id);

            CREATE TABLE campaign.call_logs (
                id               bigserial PRIMARY KEY,
                job_id           bigint NOT NULL REFERENCES campaign.campaign_jobs (id),
                customer_id      bigint NOT NULL REFERENCES campaign.customers (id),
                attempt          integer NOT NULL CHECK (attempt >= 1),
                agent            text NOT NULL,
                provider         text NOT NULL,
                provider_call_id text,
                idempotency_key  text NOT NULL UNIQUE,
                started_at       timestamptz,
                ended_at         timestamptz,
                outcome          text NOT NULL,
                duration         interval,
                detail           jsonb,
                created_at       timestamptz NOT NULL DEFAULT now(),
                -- At most one placed call per attempt.
                CONSTRAINT one_call_per_attempt UNIQUE (job_id, attempt)
            );

            CREATE TABLE campaign.automation_settings (
                key        text PRIMARY KEY,
                value      jsonb NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                updated_by text NOT NULL
            );

            -- Every change of a setting, with who made it.
            CREATE TABLE campaign.automation_settings_log (
                id         bigserial PRIMARY KEY,
                key        text NOT NULL,
                old_value  jsonb,
                new_value  jsonb NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                updated_by text NOT NULL
            );
            """#)
}
