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

            -- The campaign-local date of an automatic job: one per customer and date.
            ALTER TABLE campaign.campaign_jobs ADD COLUMN auto_date date;
            CREATE UNIQUE INDEX campaign_jobs_auto_date ON campaign.campaign_jobs (customer_id, auto_date)
                WHERE auto_date IS NOT NULL;
            -- "Has an open job" and "calls in progress" without scanning finished jobs.
            CREATE INDEX campaign_jobs_open_customer ON campaign.campaign_jobs (customer_id)
                WHERE status IN ('QUEUED', 'ACTIVE');
            CREATE INDEX campaign_jobs_dialing ON campaign.campaign_jobs (id) WHERE phase = 'DIALING';
            """#)
}
