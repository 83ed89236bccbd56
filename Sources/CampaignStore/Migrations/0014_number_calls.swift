enum Migration0014NumberCalls {
    /// Calls per phone number (issue 15): every call start, by E.164 number, whatever the job,
    /// retry, customer or campaign, so the law's cap of calls per number in 24 hours (and a
    /// campaign's own, per 24 hours and per local day) can be checked in the serialised pre-dial
    /// transaction that records the start. Kept three days (the longest look-back is a local day
    /// on a clock up to 14 hours from UTC, plus 24 hours); the dial-counter pruner forgets the rest.
    ///
    /// `number_capped`: whether one more call would exceed the caps at `at`, given the number's
    /// call starts (`calls`): at least `per_24h` in the 24 hours up to `at`, or `per_day` on
    /// `at`'s date in `tz` (NULL: no such cap). What `NumberFrequencyCap.nextAllowed` says
    /// when it answers a later instant than `at`.
    static let migration = Migration(
        version: 14, name: "number_calls",
        sql: #"""
            CREATE TABLE campaign.number_calls (
                phone text NOT NULL,
                at timestamptz NOT NULL,
                campaign_id bigint NOT NULL
            );
            CREATE INDEX number_calls_phone_at ON campaign.number_calls (phone, at);
            CREATE INDEX number_calls_at ON campaign.number_calls (at);

            CREATE FUNCTION campaign.number_capped(
                calls timestamptz[], at timestamptz, tz text, per_24h int, per_day int)
            RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
            RETURN calls IS NOT NULL AND (
                (per_24h IS NOT NULL AND
                    (SELECT count(*) FROM unnest(calls) c WHERE c > at - interval '24 hours' AND c <= at) >= per_24h)
                OR (per_day IS NOT NULL AND
                    (SELECT count(*) FROM unnest(calls) c
                      WHERE c <= at AND (c AT TIME ZONE tz)::date = (at AT TIME ZONE tz)::date) >= per_day));
            """#)
}
