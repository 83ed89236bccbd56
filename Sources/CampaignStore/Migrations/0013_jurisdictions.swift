enum Migration0013Jurisdictions {
    /// Calling within the law (issue 15).
    ///
    /// - A customer's stated `region` (ISO 3166-2), and its `jurisdiction`: the regions of the
    ///   shipped rules (`Jurisdictions`, CampaignCore) that apply to it, comma-separated, worked
    ///   out by the coordinator from the region and the phone number whenever it writes a
    ///   customer. NULL until then (rows written before this version of the rules): judged by
    ///   every rule at once, the strictest floor, until the coordinator fills it in at its start
    ///   (the partial index finds those rows without a scan, and is empty otherwise).
    /// - `jurisdiction_floors`: the hours each set of rules allows together, keyed like
    ///   `jurisdiction`, written by the coordinator from the shipped table and rewritten when
    ///   its version changes. A customer with no rule (`''`) has no row: no floor.
    /// - `eligibility_reason_j`: the rules of `eligibility_reason_w` with the law's: after the
    ///   campaign's windows, the floor's hours (`jurisdiction_hours`); and the facts of the rules
    ///   still to come in this issue, in their contract order, passed by the caller (`suppressed`,
    ///   `no_consent`, `number_frequency`).
    static let migration = Migration(
        version: 13, name: "jurisdictions",
        sql: #"""
            ALTER TABLE campaign.customers ADD COLUMN region text, ADD COLUMN jurisdiction text;
            CREATE INDEX customers_jurisdiction_unknown ON campaign.customers (id) WHERE jurisdiction IS NULL;

            CREATE TABLE campaign.jurisdiction_floors (
                jurisdiction text PRIMARY KEY,
                starts int[] NOT NULL,
                ends int[] NOT NULL,
                masks int[] NOT NULL,
                calls_per_24h int,
                version text NOT NULL
            );

            CREATE FUNCTION campaign.eligibility_reason_j(
                status campaign.customer_status, phone text, tz text, last_called_at timestamptz,
                has_open_job boolean, has_todays_job boolean, at timestamptz,
                starts int[], ends int[], masks int[], blackout date[],
                law_starts int[], law_ends int[], law_masks int[],
                suppressed boolean, no_consent boolean, number_frequency boolean, cooldown_minutes int)
            RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
            RETURN CASE
                WHEN status <> 'ACTIVE' THEN 'not_active'
                WHEN phone !~ '^\+[1-9][0-9]{7,14}$' THEN 'invalid_phone'
                WHEN suppressed THEN 'suppressed'
                WHEN no_consent THEN 'no_consent'
                WHEN NOT campaign.in_window(at, tz, starts, ends, masks, blackout) THEN 'outside_working_hours'
                WHEN law_starts IS NOT NULL AND NOT campaign.in_window(at, tz, law_starts, law_ends, law_masks, NULL)
                    THEN 'jurisdiction_hours'
                WHEN last_called_at > at - make_interval(mins => cooldown_minutes) THEN 'cooldown'
                WHEN number_frequency THEN 'number_frequency'
                WHEN has_open_job THEN 'open_job'
                WHEN has_todays_job THEN 'already_enqueued_today'
            END;
            """#)
}
