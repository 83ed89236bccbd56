import CampaignCore
import CampaignProtocol

/// The event outbox (migration 0011): numbering committed events, reading them in order, its bounds.
extension SQL {
    /// For the numbering transaction only (a script: no input): the join of the batch with the
    /// outbox as a merge join of two index scans, which stops at the batch's end. Plans are
    /// generic and made once; one made while the outbox was empty was a nested loop over all of
    /// it, and took minutes once it held a million unnumbered events (the benchmark's seeding).
    ///
    /// And no JIT: a disabled plan type still plans, at a cost of 10^10 (the one-row
    /// `job_event_stream` has only a sequential scan), which is far above `jit_above_cost`, so
    /// with PostgreSQL's JIT on (Debian's default) every numbering compiled its plan with LLVM:
    /// 230 ms of PostgreSQL CPU per statement, even with nothing to number — most of a core on
    /// the leader's 100 ms pump, all day. Without it the empty round takes under a millisecond.
    static let eventsPlan =
        "SET LOCAL jit = off; SET LOCAL enable_nestloop = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_seqscan = off"

    /// Takes the sequencers' lock, the one row of `job_event_stream`, or returns no row when
    /// another sequencer holds it (that one numbers the events, this one need not wait).
    struct EventsStreamLock: Statement {
        static let sql = StatementSQL(
            "events_stream_lock", "SELECT last_seq FROM campaign.job_event_stream FOR UPDATE SKIP LOCKED")
        static func decode(_ r: PQRow) throws -> Int64 { try r.int64("last_seq") }
    }

    /// Numbers up to `limit` committed events without a number, in the order they were
    /// written, after the highest number given; returns how many and the highest now. Runs
    /// after ``EventsStreamLock`` in the same transaction, so its snapshot holds every number
    /// given before, and after ``eventsPlan`` (see there). The batch reads a column the index
    /// does not hold (`at`), so it is a plain index scan, not an index-only one: a plain scan
    /// marks the entries of rows numbered before (dead once that commits) as dead in the index,
    /// and the next batches skip them instead of visiting each one's heap page again.
    struct EventsNumber: Statement {
        static let sql = StatementSQL(
            "events_number",
            """
            WITH batch AS (
                SELECT id, at, row_number() OVER (ORDER BY id) AS rn
                FROM campaign.job_events WHERE seq IS NULL ORDER BY id LIMIT $limit::int
            ), head AS (
                UPDATE campaign.job_event_stream
                SET last_seq = last_seq + (SELECT count(*) FROM batch)
                WHERE EXISTS (SELECT 1 FROM batch)
                RETURNING last_seq - (SELECT count(*) FROM batch) AS base
            ), numbered AS (
                UPDATE campaign.job_events e SET seq = head.base + batch.rn
                FROM batch, head WHERE e.seq IS NULL AND e.id = batch.id
                RETURNING e.seq
            )
            SELECT count(*)::int AS n, coalesce(max(seq), 0) AS last FROM numbered
            """)
        var limit: Int
        func bind(_ b: inout Bindings) { b.bind("limit", self.limit) }
        static func decode(_ r: PQRow) throws -> (count: Int, last: Int64) { (try r.int("n"), try r.int64("last")) }
    }

    /// The numbered events after `after`, oldest first, of one campaign or of all.
    struct EventsAfter: Statement {
        static let sql = StatementSQL(
            "events_after",
            """
            SELECT e.seq, e.job_id, e.queue_job_id, k.name AS campaign, e.status, e.phase, e.outcome, e.reason,
                   e.attempts_made, campaign.ts(e.at) AS at
            FROM campaign.job_events e JOIN campaign.campaigns k ON k.id = e.campaign_id
            WHERE e.seq > $after::bigint AND ($campaign_id::bigint IS NULL OR e.campaign_id = $campaign_id::bigint)
            ORDER BY e.seq LIMIT $limit::int
            """)
        var after: Int64
        var campaignId: Int64?
        var limit: Int
        func bind(_ b: inout Bindings) {
            b.bind("after", self.after)
            b.bind("campaign_id", self.campaignId)
            b.bind("limit", self.limit)
        }
        static func decode(_ r: PQRow) throws -> JobEvent {
            let text = try r.string("status")
            guard let status = JobStatus(rawValue: text) else {
                throw StoreError(.unexpectedResult, "events_after: unknown status \(text)")
            }
            return JobEvent(
                eventId: try r.int64("seq"), id: try r.int64("job_id"), queueJobId: try r.string("queue_job_id"),
                campaign: try r.string("campaign"), status: status,
                phase: r["phase"].flatMap(JobPhase.init(rawValue:)), outcome: r["outcome"], reason: r["reason"],
                attemptsMade: try r.int("attempts_made"), at: try r.string("at"))
        }
    }

    /// The highest eventId given and the oldest one still kept (nil: none kept).
    struct EventsBounds: Statement {
        static let sql = StatementSQL(
            "events_bounds",
            """
            SELECT s.last_seq, (SELECT min(seq) FROM campaign.job_events) AS oldest
            FROM campaign.job_event_stream s
            """)
        static func decode(_ r: PQRow) throws -> EventBounds {
            EventBounds(last: try r.int64("last_seq"), oldest: r["oldest"].flatMap { Int64($0) })
        }
    }
}
