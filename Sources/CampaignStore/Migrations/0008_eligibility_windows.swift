enum Migration0008EligibilityWindows {
    /// The eligibility rules of DESIGN §5 with several calling windows a day and blackout dates
    /// (issue 13): `campaign.eligibility_reason` with `campaign.in_window` in place of the one
    /// window. Same rules, same order, same reasons; windows as `in_window` takes them.
    static let migration = Migration(
        version: 8, name: "eligibility_windows",
        sql: #"""
            CREATE FUNCTION campaign.eligibility_reason_w(
                status campaign.customer_status, phone text, tz text, last_called_at timestamptz,
                has_open_job boolean, has_todays_job boolean, at timestamptz,
                starts int[], ends int[], masks int[], blackout date[], cooldown_minutes int)
            RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
            RETURN CASE
                WHEN status <> 'ACTIVE' THEN 'not_active'
                WHEN phone !~ '^\+[1-9][0-9]{7,14}$' THEN 'invalid_phone'
                WHEN NOT campaign.in_window(at, tz, starts, ends, masks, blackout) THEN 'outside_working_hours'
                WHEN last_called_at > at - make_interval(mins => cooldown_minutes) THEN 'cooldown'
                WHEN has_open_job THEN 'open_job'
                WHEN has_todays_job THEN 'already_enqueued_today'
            END;
            """#)
}
