enum Migration0009Campaigns {
    /// Several campaigns in one deployment (issue 13). Today's settings, jobs and counters become
    /// the campaign `default` (id 1, audience `all`), so everything that names no campaign works
    /// on as before.
    ///
    /// - `campaigns`: a name (`[a-z0-9-]{1,64}`, what operators and the wire use), a status
    ///   (`ACTIVE`, `PAUSED`, `ENDED`; `ended_at` exactly when ENDED), an optional `starts_at` /
    ///   `ends_at`, a priority (its weight in the share of leases, 1…1000) and an audience: `all`
    ///   customers or the `members` listed in `campaign_members`.
    /// - Every job belongs to one campaign (`campaign_jobs.campaign_id`, 1 for the jobs before).
    ///   No foreign key: every enqueue would lock the campaign's one row `FOR KEY SHARE`, a
    ///   multixact per concurrent insert on the hottest row there is; campaigns are never deleted
    ///   (they end), and every writer of jobs takes the id from a campaign it just read.
    /// - The lease index leads with the campaign: leases walk it once per campaign.
    /// - One automatic job per customer, campaign and campaign-local date.
    /// - Settings and their log, and the quarter-hour counters of call starts (each campaign's
    ///   daily cap), are per campaign; the 100 ms counters stay global (the provider's rate).
    static let migration = Migration(
        version: 9, name: "campaigns",
        sql: #"""
            CREATE TYPE campaign.campaign_status AS ENUM ('ACTIVE', 'PAUSED', 'ENDED');
            CREATE TABLE campaign.campaigns (
                id         bigserial PRIMARY KEY,
                name       text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9-]{1,64}$'),
                title      text NOT NULL DEFAULT '' CHECK (length(title) <= 200),
                status     campaign.campaign_status NOT NULL DEFAULT 'ACTIVE',
                starts_at  timestamptz,
                ends_at    timestamptz,
                priority   integer NOT NULL DEFAULT 10 CHECK (priority BETWEEN 1 AND 1000),
                audience   text NOT NULL DEFAULT 'all' CHECK (audience IN ('all', 'members')),
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now(),
                updated_by text NOT NULL,
                ended_at   timestamptz,
                ended_reason text,
                CONSTRAINT starts_before_end CHECK (starts_at IS NULL OR ends_at IS NULL OR starts_at < ends_at),
                CONSTRAINT ended_at_iff_ended CHECK ((status = 'ENDED') = (ended_at IS NOT NULL))
            );
            INSERT INTO campaign.campaigns (id, name, title, updated_by) VALUES (1, 'default', 'Default campaign', 'migration');
            SELECT setval(pg_get_serial_sequence('campaign.campaigns', 'id'), 1);

            CREATE TABLE campaign.campaign_members (
                campaign_id bigint NOT NULL REFERENCES campaign.campaigns (id),
                customer_id bigint NOT NULL REFERENCES campaign.customers (id),
                added_at    timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (campaign_id, customer_id)
            );

            ALTER TABLE campaign.campaign_jobs ADD COLUMN campaign_id bigint NOT NULL DEFAULT 1;
            DROP INDEX campaign.campaign_jobs_ready;
            CREATE INDEX campaign_jobs_ready ON campaign.campaign_jobs (campaign_id, priority DESC, run_at, id)
                WHERE status = 'QUEUED';
            DROP INDEX campaign.campaign_jobs_customer_auto_date;
            CREATE UNIQUE INDEX campaign_jobs_customer_auto_date
                ON campaign.campaign_jobs (customer_id, campaign_id, auto_date);

            ALTER TABLE campaign.automation_settings
                ADD COLUMN campaign_id bigint NOT NULL DEFAULT 1 REFERENCES campaign.campaigns (id);
            ALTER TABLE campaign.automation_settings DROP CONSTRAINT automation_settings_pkey;
            ALTER TABLE campaign.automation_settings ADD PRIMARY KEY (campaign_id, key);
            ALTER TABLE campaign.automation_settings_log ADD COLUMN campaign_id bigint NOT NULL DEFAULT 1;

            ALTER TABLE campaign.dial_counts_quarter ADD COLUMN campaign_id bigint NOT NULL DEFAULT 1;
            ALTER TABLE campaign.dial_counts_quarter DROP CONSTRAINT dial_counts_quarter_pkey;
            ALTER TABLE campaign.dial_counts_quarter ADD PRIMARY KEY (campaign_id, bucket);
            """#)
}
