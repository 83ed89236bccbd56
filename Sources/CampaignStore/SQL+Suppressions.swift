import CampaignCore
import CampaignProtocol

// MARK: The suppression list

extension SQL {
    /// Adds numbers to the list or updates them (reason, source, expiry, who and when), and
    /// records each change in `suppression_changes`, in one statement.
    struct SuppressionsAdd: Statement {
        static let sql = StatementSQL(
            "suppressions_add",
            """
            WITH up AS (
                INSERT INTO campaign.suppressions AS s (phone, reason, source, added_by, expires_at)
                SELECT u.phone, u.reason, u.source, $by, u.expires_at
                FROM unnest($phones::text[], $reasons::text[], $sources::text[], $expires::timestamptz[])
                    AS u(phone, reason, source, expires_at)
                ON CONFLICT (phone) DO UPDATE SET
                    reason = EXCLUDED.reason, source = EXCLUDED.source, expires_at = EXCLUDED.expires_at,
                    added_by = EXCLUDED.added_by, added_at = now()
                RETURNING s.phone, s.reason, s.source, s.expires_at, (xmax = 0) AS inserted
            ), audit AS (
                INSERT INTO campaign.suppression_changes (phone, action, reason, source, expires_at, by)
                SELECT phone, CASE WHEN inserted THEN 'added' ELSE 'updated' END, reason, source, expires_at, $by FROM up
            )
            SELECT count(*) FILTER (WHERE inserted) AS added, count(*) FILTER (WHERE NOT inserted) AS updated FROM up
            """)
        var entries: [(phone: String, reason: String, source: String, expiresAt: String?)]
        var by: String

        func bind(_ b: inout Bindings) {
            b.bind("phones", array: self.entries.map { $0.phone as String? })
            b.bind("reasons", array: self.entries.map { $0.reason as String? })
            b.bind("sources", array: self.entries.map { $0.source as String? })
            b.bind("expires", array: self.entries.map(\.expiresAt))
            b.bind("by", self.by)
        }

        static func decode(_ row: PQRow) throws -> (added: Int, updated: Int) { (try row.int("added"), try row.int("updated")) }
    }

    /// Takes numbers off the list, recording each removal; answers the numbers removed.
    struct SuppressionsRemove: Statement {
        static let sql = StatementSQL(
            "suppressions_remove",
            """
            WITH gone AS (
                DELETE FROM campaign.suppressions WHERE phone = ANY($phones::text[])
                RETURNING phone, reason, source, expires_at
            ), audit AS (
                INSERT INTO campaign.suppression_changes (phone, action, reason, source, expires_at, by)
                SELECT phone, 'removed', reason, source, expires_at, $by FROM gone
            )
            SELECT phone FROM gone
            """)
        var phones: [String]
        var by: String

        func bind(_ b: inout Bindings) {
            b.bind("phones", array: self.phones.map { $0 as String? })
            b.bind("by", self.by)
        }

        static func decode(_ row: PQRow) throws -> String { try row.string("phone") }
    }

    /// In number order after `after`, optionally one number.
    struct SuppressionsList: Statement {
        static let sql = StatementSQL(
            "suppressions_list",
            """
            SELECT phone, reason, source, campaign.ts(added_at) AS added_at, added_by, campaign.ts(expires_at) AS expires_at
            FROM campaign.suppressions
            WHERE ($phone::text IS NULL OR phone = $phone::text) AND ($after::text IS NULL OR phone > $after::text)
            ORDER BY phone LIMIT $limit::int
            """)
        var phone: String?
        var after: String?
        var limit: Int

        func bind(_ b: inout Bindings) {
            b.bind("phone", self.phone)
            b.bind("after", self.after)
            b.bind("limit", self.limit)
        }

        static func decode(_ r: PQRow) throws -> SuppressionView {
            SuppressionView(
                phone: try r.string("phone"), reason: try r.string("reason"), source: try r.string("source"),
                addedAt: try r.string("added_at"), addedBy: try r.string("added_by"), expiresAt: r["expires_at"])
        }
    }

    /// What an opt-out reported on a call does with the report (issue 15): each number suppressed
    /// for good (`source` names the call, `by` the agent), the change audited, and every ACTIVE
    /// customer of the number marked OPTED_OUT; answers how many customers changed.
    struct OptOutRecord: Statement {
        static let sql = StatementSQL(
            "opt_out_record",
            """
            WITH up AS (
                INSERT INTO campaign.suppressions AS s (phone, reason, source, added_by)
                SELECT u.phone, 'opted out on a call', u.source, u.by
                FROM unnest($phones::text[], $sources::text[], $bys::text[]) AS u(phone, source, by)
                ON CONFLICT (phone) DO UPDATE SET
                    reason = EXCLUDED.reason, source = EXCLUDED.source, added_by = EXCLUDED.added_by,
                    added_at = now(), expires_at = NULL
                RETURNING s.phone, s.reason, s.source, s.added_by, (xmax = 0) AS inserted
            ), audit AS (
                INSERT INTO campaign.suppression_changes (phone, action, reason, source, by)
                SELECT phone, CASE WHEN inserted THEN 'added' ELSE 'updated' END, reason, source, added_by FROM up
            ), customers AS (
                UPDATE campaign.customers SET status = 'OPTED_OUT', updated_at = now()
                WHERE phone = ANY($phones::text[]) AND status = 'ACTIVE'
                RETURNING 1
            )
            SELECT count(*)::int AS n FROM customers
            """)
        var optOuts: [(phone: String, source: String, by: String)]

        func bind(_ b: inout Bindings) {
            b.bind("phones", array: self.optOuts.map { $0.phone as String? })
            b.bind("sources", array: self.optOuts.map { $0.source as String? })
            b.bind("bys", array: self.optOuts.map { $0.by as String? })
        }

        static func decode(_ r: PQRow) throws -> Int { try r.int("n") }
    }

    /// The open jobs of the numbers given, other than `excluding` (the reporting batch's), locked
    /// for an opt-out: those another transaction holds are left (`SKIP LOCKED`: their pre-dial
    /// check, serialised after this one, finds the number suppressed).
    struct JobsLockOpenOfNumbers: LocksJobs {
        static let sql = StatementSQL(
            "jobs_lock_open_of_numbers",
            """
            SELECT \(lockedJobColumns) FROM \(lockedJobTables)
            WHERE c.phone = ANY($phones::text[]) AND j.status IN ('QUEUED', 'ACTIVE')
              AND NOT (j.id = ANY($excluding::bigint[]))
            ORDER BY j.id
            FOR UPDATE OF j SKIP LOCKED
            """)
        var phones: [String]
        var excluding: [Int64]

        func bind(_ b: inout Bindings) {
            b.bind("phones", array: self.phones.map { $0 as String? })
            b.bind("excluding", array: self.excluding)
        }
    }

    /// The pre-dial check's refusals of a window, by rule.
    struct AuditRefusals: Statement {
        static let sql = StatementSQL(
            "audit_refusals",
            """
            SELECT rule, count(*)::int AS n FROM campaign.dial_refusals
            WHERE at >= $since::timestamptz AND at < $until::timestamptz GROUP BY rule ORDER BY rule
            """)
        var since: String
        var until: String
        func bind(_ b: inout Bindings) {
            b.bind("since", self.since)
            b.bind("until", self.until)
        }
        static func decode(_ r: PQRow) throws -> (String, Int) { (try r.string("rule"), try r.int("n")) }
    }

    /// The suppression list's changes of a window, oldest first (at most `limit`), each row with
    /// the window's total.
    struct AuditSuppressionChanges: Statement {
        static let sql = StatementSQL(
            "audit_suppression_changes",
            """
            SELECT campaign.ts(at) AS at, phone, action, reason, source, by, count(*) OVER ()::int AS total
            FROM campaign.suppression_changes
            WHERE at >= $since::timestamptz AND at < $until::timestamptz
            ORDER BY at, id LIMIT $limit::int
            """)
        var since: String
        var until: String
        var limit: Int
        func bind(_ b: inout Bindings) {
            b.bind("since", self.since)
            b.bind("until", self.until)
            b.bind("limit", self.limit)
        }
        static func decode(_ r: PQRow) throws -> (AuditSummary.SuppressionChange, Int) {
            (AuditSummary.SuppressionChange(
                at: try r.string("at"), phone: try r.string("phone"), action: try r.string("action"), reason: r["reason"],
                source: r["source"], by: try r.string("by")), try r.int("total"))
        }
    }
}
