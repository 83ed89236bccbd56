enum Migration0007CallingWindows {
    /// Several calling windows a day and blackout dates (issue 13), in SQL for the set-based
    /// paths, by the same steps as `CallingWindows` in CampaignCore (randomized tests hold the
    /// two together). Windows travel as three arrays of the same length: `starts` and `ends` in
    /// seconds after local midnight (end exclusive, 86400 = end of the day) and `masks`, the ISO
    /// weekdays as bits (bit d − 1 for weekday d); `blackout` the customer-local dates without calls.
    ///
    /// - `in_window`: whether the customer's wall clock at `at` is inside a window on a date that
    ///   is not blacked out.
    /// - `next_opening`: `at` itself when inside, else the earliest window start after `at` on
    ///   the first local date (from today on, blackout dates skipped, 400 dates at most) that has
    ///   one; a start is converted as `timestamp AT TIME ZONE` converts it, and counts only if
    ///   the customer's clock is then inside a window (a window inside a skipped hour never opens).
    static let migration = Migration(
        version: 7, name: "calling_windows",
        sql: #"""
            CREATE FUNCTION campaign.in_window(
                at timestamptz, tz text, starts int[], ends int[], masks int[], blackout date[])
            RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE
            RETURN NOT ((at AT TIME ZONE tz)::date = ANY (coalesce(blackout, '{}')))
                AND EXISTS (
                    SELECT 1 FROM unnest(starts, ends, masks) AS w(s, e, m)
                    WHERE (m >> (extract(isodow FROM at AT TIME ZONE tz)::int - 1)) & 1 = 1
                      AND extract(epoch FROM (at AT TIME ZONE tz)::time) >= s
                      AND extract(epoch FROM (at AT TIME ZONE tz)::time) < e);

            CREATE FUNCTION campaign.next_opening(
                at timestamptz, tz text, starts int[], ends int[], masks int[], blackout date[])
            RETURNS timestamptz LANGUAGE plpgsql STABLE PARALLEL SAFE
            AS $$
            DECLARE
                today date := (at AT TIME ZONE tz)::date;
                d date;
                weekday int;
                candidate timestamptz;
                best timestamptz;
            BEGIN
                IF campaign.in_window(at, tz, starts, ends, masks, blackout) THEN
                    RETURN at;
                END IF;
                FOR k IN 0..399 LOOP
                    d := today + k;
                    CONTINUE WHEN d = ANY (coalesce(blackout, '{}'));
                    weekday := extract(isodow FROM d)::int;
                    best := NULL;
                    FOR i IN 1..coalesce(cardinality(starts), 0) LOOP
                        IF (masks[i] >> (weekday - 1)) & 1 = 1 THEN
                            candidate := (d + make_interval(secs => starts[i])) AT TIME ZONE tz;
                            IF candidate > at AND (best IS NULL OR candidate < best)
                               AND campaign.in_window(candidate, tz, starts, ends, masks, blackout) THEN
                                best := candidate;
                            END IF;
                        END IF;
                    END LOOP;
                    IF best IS NOT NULL THEN
                        RETURN best;
                    END IF;
                END LOOP;
                RETURN NULL;
            END
            $$;
            """#)
}
