enum Migration0011JobEvents {
    /// The event outbox of `events.subscribe` (issue 14): one row per job transition (a change of
    /// status, phase or attempts), written by statement-level triggers on `campaign_jobs` in the
    /// transaction of the transition itself, whichever statement made it. A batch statement
    /// writes its events with one `INSERT … SELECT` from its transition tables.
    ///
    /// The position a subscriber resumes from, `seq` (the event's `eventId`), is not the row's
    /// `id`: ids are taken when a transaction writes, and transactions commit in another order,
    /// so a reader past id 10 could later see an id 9 commit and never deliver it. A sequencer
    /// (``PostgresJobStore/numberEvents(limit:)``, one at a time, holding the row of
    /// `job_event_stream`) numbers the committed events that have no `seq` yet in id order,
    /// after the highest number it gave. A later transition of a job commits after the earlier
    /// one (the job's row lock), so it has a higher id and is numbered no earlier: `seq` order is
    /// each job's order, and nothing is numbered below a position a reader has passed.
    ///
    /// Indexes: the unnumbered events by id (small: they are numbered within a fraction of a
    /// second), the numbered ones by `seq` (reads, retention). No primary key on `id`: nothing
    /// looks a row up by it except through the unnumbered index.
    static let migration = Migration(
        version: 11, name: "job_events",
        sql: #"""
            CREATE TABLE campaign.job_events (
                id            bigserial NOT NULL,
                seq           bigint UNIQUE,
                job_id        bigint NOT NULL,
                queue_job_id  text NOT NULL,
                campaign_id   bigint NOT NULL,
                status        campaign.campaign_job_status NOT NULL,
                phase         campaign.job_phase,
                outcome       text,
                reason        text,
                attempts_made integer NOT NULL,
                at            timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX job_events_unnumbered ON campaign.job_events (id) WHERE seq IS NULL;

            -- The highest seq given; its row is the sequencers' lock.
            CREATE TABLE campaign.job_event_stream (
                only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
                last_seq bigint NOT NULL CHECK (last_seq >= 0)
            );
            INSERT INTO campaign.job_event_stream (last_seq) VALUES (0);

            CREATE FUNCTION campaign.job_events_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO campaign.job_events
                    (job_id, queue_job_id, campaign_id, status, phase, outcome, reason, attempts_made)
                SELECT n.id, n.queue_job_id, n.campaign_id, n.status, n.phase, n.result ->> 'outcome', n.reason,
                       n.attempts_made
                FROM new_jobs n ORDER BY n.id;
                RETURN NULL;
            END $$;

            CREATE FUNCTION campaign.job_events_updated() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO campaign.job_events
                    (job_id, queue_job_id, campaign_id, status, phase, outcome, reason, attempts_made)
                SELECT n.id, n.queue_job_id, n.campaign_id, n.status, n.phase, n.result ->> 'outcome', n.reason,
                       n.attempts_made
                FROM new_jobs n JOIN old_jobs o ON o.id = n.id
                WHERE n.status IS DISTINCT FROM o.status OR n.phase IS DISTINCT FROM o.phase
                   OR n.attempts_made IS DISTINCT FROM o.attempts_made
                ORDER BY n.id;
                RETURN NULL;
            END $$;

            CREATE TRIGGER job_events_insert AFTER INSERT ON campaign.campaign_jobs
                REFERENCING NEW TABLE AS new_jobs
                FOR EACH STATEMENT EXECUTE FUNCTION campaign.job_events_inserted();
            CREATE TRIGGER job_events_update AFTER UPDATE ON campaign.campaign_jobs
                REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
                FOR EACH STATEMENT EXECUTE FUNCTION campaign.job_events_updated();
            """#)
}
