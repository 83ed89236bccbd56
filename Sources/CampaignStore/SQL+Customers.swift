import CampaignCore
import CampaignProtocol

// MARK: Customers

extension SQL {
    /// Inserts or updates customers by `external_ref`; answers per row whether it was new.
    /// Rows come as parallel arrays; validation happened before (phone, timezone). With
    /// `keepStatus`, an existing customer keeps its status (the rows name none).
    struct CustomersUpsert: Statement {
        static let sql = StatementSQL(
            "customers_upsert",
            """
            INSERT INTO campaign.customers AS c
                (external_ref, name, phone, timezone, status, attributes, region, jurisdiction, consent)
            SELECT r, n, p, tz, coalesce(s, 'ACTIVE')::campaign.customer_status, coalesce(a, '{}'), g, j, k
            FROM unnest($refs::text[], $names::text[], $phones::text[], $timezones::text[], $statuses::text[],
                        $attributes::jsonb[], $regions::text[], $jurisdictions::text[], $consents::jsonb[])
                AS t(r, n, p, tz, s, a, g, j, k)
            ON CONFLICT (external_ref) DO UPDATE SET
                name = EXCLUDED.name, phone = EXCLUDED.phone, timezone = EXCLUDED.timezone,
                region = EXCLUDED.region, jurisdiction = EXCLUDED.jurisdiction,
                -- A consent on record stays until another replaces it (an opt-out withdraws it
                -- by status or suppression, not by an import that has no consent column).
                consent = coalesce(EXCLUDED.consent, c.consent),
                status = CASE WHEN $keep_status::bool THEN c.status ELSE EXCLUDED.status END,
                attributes = EXCLUDED.attributes, updated_at = now()
            RETURNING (xmax = 0) AS inserted
            """)
        var customers: [ValidCustomer]
        var keepStatus: Bool

        func bind(_ b: inout Bindings) {
            b.bind("refs", array: self.customers.map { $0.externalRef })
            b.bind("names", array: self.customers.map { $0.name })
            b.bind("phones", array: self.customers.map { $0.phone })
            b.bind("timezones", array: self.customers.map { $0.timezone })
            b.bind("statuses", array: self.customers.map { $0.status?.rawValue })
            b.bind("attributes", array: self.customers.map { $0.attributesJSON })
            b.bind("regions", array: self.customers.map { $0.region })
            b.bind("consents", array: self.customers.map { $0.consentJSON })
            // Worked out here, from the shipped rules (the pre-dial check works it out again).
            b.bind("jurisdictions", array: self.customers.map { Jurisdictions.key(phone: $0.phone, stated: $0.region) })
            b.bind("keep_status", self.keepStatus)
        }

        /// Whether the row was inserted (not updated).
        static func decode(_ row: PQRow) throws -> Bool { row.bool("inserted") }
    }

    /// The columns of ``CustomerView``.
    static let customerColumns = """
        id, external_ref, name, phone, timezone, status::text AS status, campaign.ts(last_called_at) AS last_called_at,
        attributes, campaign.ts(created_at) AS created_at, campaign.ts(updated_at) AS updated_at, region, consent
        """

    /// One customer by id or by external ref.
    struct CustomersGet: Statement {
        static let sql = StatementSQL(
            "customers_get",
            """
            SELECT \(customerColumns) FROM campaign.customers
            WHERE ($id::bigint IS NOT NULL AND id = $id::bigint)
               OR ($external_ref::text IS NOT NULL AND external_ref = $external_ref::text)
            """)
        var id: Int64?
        var externalRef: String?

        func bind(_ b: inout Bindings) {
            b.bind("id", self.id)
            b.bind("external_ref", self.externalRef)
        }

        static func decode(_ row: PQRow) throws -> CustomerView { try CustomerView(row: row) }
    }

    /// In id order, keyset paging (after the id `after`), optional status.
    struct CustomersList: Statement {
        static let sql = StatementSQL(
            "customers_list",
            """
            SELECT \(customerColumns) FROM campaign.customers
            WHERE ($status::campaign.customer_status IS NULL OR status = $status::campaign.customer_status)
              AND ($after::bigint IS NULL OR id > $after::bigint)
            ORDER BY id LIMIT $limit::int
            """)
        var status: CustomerStatus?
        var limit: Int
        /// The paging cursor as the client sent it (an id).
        var after: String?

        func bind(_ b: inout Bindings) {
            b.bind("status", self.status?.rawValue)
            b.bind("after", self.after)
            b.bind("limit", self.limit)
        }

        static func decode(_ row: PQRow) throws -> CustomerView { try CustomerView(row: row) }
    }
}
