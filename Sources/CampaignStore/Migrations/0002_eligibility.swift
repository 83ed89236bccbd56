enum Migration0002Eligibility {
    static let migration = Migration(
        version: 2, name: "eligibility",
        sql: #"""
            -- One row per call start (DIALING): the daily cap and the calls-per-second limit count these.
            CREATE TABLE campaign.dial_events (
                id     bigserial PRIMARY KEY,
                at     timestamptz NOT NULL DEFAULT clock_timestamp(),
                job_id bigint NOT NULL REFERENCES campaign.campaign_jobs (id)
            );
            CREATE INDEX dial_events_at ON campaign.dial_events (at);

            -- The campaign-local date of an automatic job: one per customer and date (NULLs, the
            -- manual jobs, stay distinct). It is also the index of "jobs of a customer".
            ALTER TABLE campaign.campaign_jobs ADD COLUMN auto_date date;
            CREATE UNIQUE INDEX campaign_jobs_customer_auto_date ON campaign.campaign_jobs (customer_id, auto_date);
            -- "Has an open job" and "calls in progress" without scanning finished jobs.
            CREATE INDEX campaign_jobs_open_customer ON campaign.campaign_jobs (customer_id)
                WHERE status IN ('QUEUED', 'ACTIVE');
            CREATE INDEX campaign_jobs_dialing ON campaign.campaign_jobs (id) WHERE phase = 'DIALING';

            -- The eligibility rules of DESIGN §5 for one customer at one instant, in the order of
            -- the Swift EligibilityPolicy (the reference): the first rule that fails names the
            -- reason; NULL means the customer may be called. Working hours are read on the
            -- customer's own wall clock (DST-correct), end exclusive ('24:00' = end of day).
            CREATE FUNCTION campaign.eligibility_reason(
                status campaign.customer_status, phone text, tz text, last_called_at timestamptz,
                has_open_job boolean, has_todays_job boolean,
                at timestamptz, work_start time, work_end time, work_days int[], cooldown_minutes int)
            RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
            RETURN CASE
                WHEN status <> 'ACTIVE' THEN 'not_active'
                WHEN phone !~ '^\+[1-9][0-9]{7,14}$' THEN 'invalid_phone'
                WHEN NOT (extract(isodow FROM at AT TIME ZONE tz)::int = ANY(work_days)
                          AND (at AT TIME ZONE tz)::time >= work_start
                          AND (at AT TIME ZONE tz)::time < work_end) THEN 'outside_working_hours'
                WHEN last_called_at > at - make_interval(mins => cooldown_minutes) THEN 'cooldown'
                WHEN has_open_job THEN 'open_job'
                WHEN has_todays_job THEN 'already_enqueued_today'
            END;
            """#)
}
