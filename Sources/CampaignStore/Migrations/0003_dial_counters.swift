enum Migration0003DialCounters {
    /// Incremental call-start counters, so that the pre-dial check costs the same whatever the
    /// number of calls already made today (issue 11: counting `dial_events` was a scan of the
    /// whole day's calls under the dial-limits lock).
    ///
    /// Two granularities of one fact — call starts per UTC time bucket:
    /// - 15 minutes, for the daily cap: every current zone's midnight falls on a quarter hour
    ///   (offsets are whole multiples of 15 minutes), so "since the local midnight" is a sum of
    ///   at most 96 rows;
    /// - 100 ms, for the calls-per-second limit: the buckets that touch the sliding window are
    ///   counted whole, so the count can only over-estimate, and the limit holds for every window.
    /// Both are written in the transaction that records the DIALING jobs, under the dial-limits
    /// lock; `dial_events` stays as the audit of each start.
    static let migration = Migration(
        version: 3, name: "dial_counters",
        sql: #"""
            CREATE TABLE campaign.dial_counts_quarter (
                bucket timestamptz PRIMARY KEY,
                n      bigint NOT NULL CHECK (n >= 0)
            );
            CREATE TABLE campaign.dial_counts_tick (
                bucket timestamptz PRIMARY KEY,
                n      bigint NOT NULL CHECK (n >= 0)
            );
            -- Carry the recent starts over, so an upgrade keeps today's cap and the rate window.
            INSERT INTO campaign.dial_counts_quarter (bucket, n)
            SELECT to_timestamp(floor(extract(epoch FROM at) / 900) * 900), count(*)
            FROM campaign.dial_events WHERE at > now() - interval '3 days' GROUP BY 1;
            INSERT INTO campaign.dial_counts_tick (bucket, n)
            SELECT to_timestamp(floor(extract(epoch FROM at) * 10) / 10), count(*)
            FROM campaign.dial_events WHERE at > now() - interval '1 hour' GROUP BY 1;
            """#)
}
