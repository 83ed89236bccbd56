import CampaignCore
import CampaignProtocol

// MARK: Campaigns

extension SQL {
    /// The columns of a campaign's row (a ``CampaignRecord`` but its settings, read apart).
    static let campaignColumns = """
        k.id, k.name, k.title, k.status::text AS status, campaign.ts(k.starts_at) AS starts_at,
        campaign.ts(k.ends_at) AS ends_at, k.priority, k.audience, campaign.ts(k.created_at) AS created_at,
        campaign.ts(k.updated_at) AS updated_at, k.updated_by, campaign.ts(k.ended_at) AS ended_at, k.ended_reason
        """

    /// Every campaign, by id (a deployment has tens, not thousands).
    struct CampaignsAll: Statement {
        static let sql = StatementSQL("campaigns_all", "SELECT \(campaignColumns) FROM campaign.campaigns k ORDER BY k.id")
        static func decode(_ row: PQRow) throws -> CampaignRecord { try CampaignRecord(row: row) }
    }

    /// One campaign by name, locked for a change.
    struct CampaignsLock: Statement {
        static let sql = StatementSQL(
            "campaigns_lock", "SELECT \(campaignColumns) FROM campaign.campaigns k WHERE k.name = $name FOR UPDATE")
        var name: String
        func bind(_ b: inout Bindings) { b.bind("name", self.name) }
        static func decode(_ row: PQRow) throws -> CampaignRecord { try CampaignRecord(row: row) }
    }

    /// Creates a campaign; answers its id, or no row when the name is taken.
    struct CampaignsInsert: Statement {
        static let sql = StatementSQL(
            "campaigns_insert",
            """
            INSERT INTO campaign.campaigns (name, title, status, starts_at, ends_at, priority, audience, updated_by)
            VALUES ($name, $title, $status::campaign.campaign_status, $starts_at::timestamptz, $ends_at::timestamptz,
                    $priority::int, $audience, $by)
            ON CONFLICT (name) DO NOTHING
            RETURNING id
            """)
        var row: CampaignRecord
        var by: String

        func bind(_ b: inout Bindings) {
            b.bind("name", self.row.name)
            b.bind("title", self.row.title)
            b.bind("status", self.row.status.rawValue)
            b.bind("starts_at", self.row.startsAt)
            b.bind("ends_at", self.row.endsAt)
            b.bind("priority", self.row.priority)
            b.bind("audience", self.row.audience.rawValue)
            b.bind("by", self.by)
        }

        static func decode(_ row: PQRow) throws -> Int64 { try row.int64("id") }
    }

    /// Writes a campaign's fields as decided (the row was locked with ``CampaignsLock``). Ending
    /// stamps `ended_at` once.
    struct CampaignsWrite: Statement {
        static let sql = StatementSQL(
            "campaigns_write",
            """
            UPDATE campaign.campaigns SET
                title = $title, status = $status::campaign.campaign_status, starts_at = $starts_at::timestamptz,
                ends_at = $ends_at::timestamptz, priority = $priority::int, audience = $audience,
                ended_at = CASE WHEN $status = 'ENDED' THEN coalesce(ended_at, now()) END,
                ended_reason = CASE WHEN $status = 'ENDED' THEN coalesce(ended_reason, $ended_reason) END,
                updated_at = now(), updated_by = $by
            WHERE id = $id::bigint
            """)
        var row: CampaignRecord
        var by: String

        func bind(_ b: inout Bindings) {
            b.bind("title", self.row.title)
            b.bind("status", self.row.status.rawValue)
            b.bind("starts_at", self.row.startsAt)
            b.bind("ends_at", self.row.endsAt)
            b.bind("priority", self.row.priority)
            b.bind("audience", self.row.audience.rawValue)
            b.bind("ended_reason", self.row.endedReason)
            b.bind("by", self.by)
            b.bind("id", self.row.id)
        }
    }

    /// Ends every campaign whose `ends_at` has passed (the maintenance leader's duty); answers
    /// their ids.
    struct CampaignsEndOverdue: Statement {
        static let sql = StatementSQL(
            "campaigns_end_overdue",
            """
            UPDATE campaign.campaigns SET status = 'ENDED', ended_at = now(), ended_reason = 'endsAt',
                updated_at = now(), updated_by = $by
            WHERE status <> 'ENDED' AND ends_at <= now() AND id <> 1
            RETURNING id
            """)
        var by: String
        func bind(_ b: inout Bindings) { b.bind("by", self.by) }
        static func decode(_ row: PQRow) throws -> Int64 { try row.int64("id") }
    }

    /// Locks up to `limit` QUEUED jobs of ended campaigns (rows others hold are skipped), for
    /// the state machine's `campaignEnded`.
    struct JobsLockQueuedOfEnded: LocksJobs {
        static let sql = StatementSQL(
            "jobs_lock_queued_of_ended",
            """
            SELECT \(jobOnlyColumns)
            FROM campaign.campaigns k
            JOIN campaign.campaign_jobs j ON j.campaign_id = k.id AND j.status = 'QUEUED'
            WHERE k.status = 'ENDED'
            ORDER BY j.id
            LIMIT $limit::int
            FOR UPDATE OF j SKIP LOCKED
            """)
        var limit: Int
        func bind(_ b: inout Bindings) { b.bind("limit", self.limit) }
    }

    /// Members per campaign, for the given campaigns.
    struct CampaignMembersCount: Statement {
        static let sql = StatementSQL(
            "campaign_members_count",
            """
            SELECT campaign_id, count(*) AS n FROM campaign.campaign_members
            WHERE campaign_id = ANY($ids::bigint[]) GROUP BY campaign_id
            """)
        var ids: [Int64]
        func bind(_ b: inout Bindings) { b.bind("ids", array: self.ids) }
        static func decode(_ row: PQRow) throws -> (id: Int64, n: Int) { (try row.int64("campaign_id"), try row.int("n")) }
    }

    /// Adds (or with `remove`, removes) customers by external ref to a campaign's members; one
    /// row per distinct ref: whether a customer has it, and whether this statement changed it.
    struct CampaignMembersChange: Statement {
        static let sql = StatementSQL(
            "campaign_members_change",
            """
            WITH input AS (
                SELECT DISTINCT ref FROM unnest($refs::text[]) AS t(ref)
            ), resolved AS (
                SELECT i.ref, c.id AS cid FROM input i LEFT JOIN campaign.customers c ON c.external_ref = i.ref
            ), added AS (
                INSERT INTO campaign.campaign_members (campaign_id, customer_id)
                SELECT $campaign_id::bigint, cid FROM resolved WHERE cid IS NOT NULL AND NOT $remove::bool
                ORDER BY cid
                ON CONFLICT DO NOTHING
                RETURNING customer_id
            ), removed AS (
                DELETE FROM campaign.campaign_members m USING resolved r
                WHERE $remove::bool AND m.campaign_id = $campaign_id::bigint AND m.customer_id = r.cid
                RETURNING m.customer_id
            )
            SELECT r.ref, r.cid IS NOT NULL AS known,
                   (r.cid IN (SELECT customer_id FROM added) OR r.cid IN (SELECT customer_id FROM removed)) AS changed
            FROM resolved r
            """)
        var campaignId: Int64
        var refs: [String]
        var remove: Bool

        func bind(_ b: inout Bindings) {
            b.bind("refs", array: self.refs)
            b.bind("campaign_id", self.campaignId)
            b.bind("remove", self.remove)
        }

        static func decode(_ row: PQRow) throws -> (ref: String, known: Bool, changed: Bool) {
            (try row.string("ref"), row.bool("known"), row.bool("changed"))
        }
    }

    /// Per campaign: calls in progress, and call starts today in each campaign's `timezone`
    /// (the counters its daily cap sums), for `health`.
    struct CampaignsCallCounts: Statement {
        static let sql = StatementSQL(
            "campaigns_call_counts",
            """
            WITH k AS (SELECT * FROM unnest($ids::bigint[], $timezones::text[]) AS t(id, tz)),
            dialing AS (
                SELECT campaign_id, count(*) AS n FROM campaign.campaign_jobs
                WHERE status = 'ACTIVE' AND phase = 'DIALING' GROUP BY campaign_id
            )
            SELECT k.id, coalesce((SELECT n FROM dialing WHERE dialing.campaign_id = k.id), 0) AS dialing,
                   (SELECT coalesce(sum(q.n), 0) FROM campaign.dial_counts_quarter q
                     WHERE q.campaign_id = k.id
                       AND q.bucket > (date_trunc('day', now() AT TIME ZONE k.tz) AT TIME ZONE k.tz) - interval '15 minutes')
                       AS today
            FROM k
            """)
        var ids: [Int64]
        var timezones: [String]

        func bind(_ b: inout Bindings) {
            b.bind("ids", array: self.ids)
            b.bind("timezones", array: self.timezones)
        }

        static func decode(_ row: PQRow) throws -> (id: Int64, dialing: Int, today: Int) {
            (try row.int64("id"), try row.int("dialing"), try row.int("today"))
        }
    }

    /// The jobs of one campaign SKIPPED because it ended (`campaigns.end`'s answer, whoever
    /// skipped them: its own call, or the leader's sweep in between).
    struct JobsCountEndedSkips: Statement {
        static let sql = StatementSQL(
            "jobs_count_ended_skips",
            """
            SELECT count(*)::int AS n FROM campaign.campaign_jobs
            WHERE status = 'SKIPPED' AND campaign_id = $campaign_id::bigint AND result ->> 'reason' = 'campaign_ended'
            """)
        var campaignId: Int64
        func bind(_ b: inout Bindings) { b.bind("campaign_id", self.campaignId) }
        static func decode(_ r: PQRow) throws -> Int { try r.int("n") }
    }
}

extension CampaignRecord {
    /// A row of ``SQL/campaignColumns``, with the default settings until its own are read.
    init(row r: PQRow) throws {
        self.init(
            id: try r.int64("id"), name: try r.string("name"), title: r["title"] ?? "",
            status: CampaignStatus(rawValue: try r.string("status")) ?? .ended, startsAt: r["starts_at"],
            endsAt: r["ends_at"], priority: try r.int("priority"),
            audience: CampaignAudience(rawValue: try r.string("audience")) ?? .members,
            createdAt: try r.string("created_at"), updatedAt: try r.string("updated_at"),
            updatedBy: try r.string("updated_by"), endedAt: r["ended_at"], endedReason: r["ended_reason"],
            settings: AutomationSettings())
    }
}
