import CampaignCore

// MARK: Jurisdictions: the database's copy of the law's floors, customers' jurisdictions

extension SQL {
    /// How many floors of `version` the database holds, and how many of any other.
    struct JurisdictionFloorsState: Statement {
        static let sql = StatementSQL(
            "jurisdiction_floors_state",
            """
            SELECT count(*) FILTER (WHERE version = $version) AS current,
                   count(*) FILTER (WHERE version <> $version) AS stale
            FROM campaign.jurisdiction_floors
            """)
        var version: String
        func bind(_ b: inout Bindings) { b.bind("version", self.version) }
        static func decode(_ row: PQRow) throws -> (current: Int, stale: Int) {
            (try row.int("current"), try row.int("stale"))
        }
    }

    /// Forgets every floor and every customer's jurisdiction (the rules changed: both are
    /// worked out again, and until then every customer is judged by the strictest floor).
    struct JurisdictionsForget: Statement {
        static let sql = StatementSQL(
            "jurisdictions_forget",
            """
            WITH floors AS (DELETE FROM campaign.jurisdiction_floors RETURNING 1)
            UPDATE campaign.customers SET jurisdiction = NULL WHERE jurisdiction IS NOT NULL
            """)
    }

    /// One floor: the hours of a set of rules together, as `campaign.in_window` takes them.
    struct JurisdictionFloorInsert: Statement {
        static let sql = StatementSQL(
            "jurisdiction_floor_insert",
            """
            INSERT INTO campaign.jurisdiction_floors (jurisdiction, starts, ends, masks, calls_per_24h, version)
            VALUES ($jurisdiction, $starts::int[], $ends::int[], $masks::int[], $calls_per_24h::int, $version)
            ON CONFLICT (jurisdiction) DO NOTHING
            """)
        var key: String
        var floor: JurisdictionFloor
        var version: String

        func bind(_ b: inout Bindings) {
            let windows = self.floor.hours?.windows ?? []
            b.bind("jurisdiction", self.key)
            b.bind("starts", array: windows.map(\.startSecond))
            b.bind("ends", array: windows.map(\.endSecond))
            b.bind("masks", array: windows.map(\.weekdayMask))
            b.bind("calls_per_24h", self.floor.callsPer24h)
            b.bind("version", self.version)
        }
    }

    /// Customers whose jurisdiction is not known yet, in id order after `after` (the partial
    /// index `customers_jurisdiction_unknown`).
    struct CustomersJurisdictionUnknown: Statement {
        static let sql = StatementSQL(
            "customers_jurisdiction_unknown",
            """
            SELECT id, phone, region FROM campaign.customers
            WHERE jurisdiction IS NULL AND id > $after::bigint
            ORDER BY id LIMIT $limit::int
            """)
        var after: Int64
        var limit: Int
        func bind(_ b: inout Bindings) {
            b.bind("after", self.after)
            b.bind("limit", self.limit)
        }
        static func decode(_ row: PQRow) throws -> (id: Int64, phone: String, region: String?) {
            (try row.int64("id"), try row.string("phone"), row["region"])
        }
    }

    /// Sets customers' jurisdictions, unless the phone or region changed since they were read
    /// (that write set its own).
    struct CustomersSetJurisdiction: Statement {
        static let sql = StatementSQL(
            "customers_set_jurisdiction",
            """
            UPDATE campaign.customers c SET jurisdiction = u.j
            FROM unnest($ids::bigint[], $phones::text[], $regions::text[], $jurisdictions::text[]) AS u(id, p, r, j)
            WHERE c.id = u.id AND c.phone = u.p AND c.region IS NOT DISTINCT FROM u.r AND c.jurisdiction IS NULL
            """)
        var rows: [(id: Int64, phone: String, region: String?, jurisdiction: String)]
        func bind(_ b: inout Bindings) {
            b.bind("ids", array: self.rows.map(\.id))
            b.bind("phones", array: self.rows.map(\.phone))
            b.bind("regions", array: self.rows.map(\.region))
            b.bind("jurisdictions", array: self.rows.map(\.jurisdiction))
        }
    }
}
