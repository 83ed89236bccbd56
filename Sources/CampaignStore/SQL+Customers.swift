// MARK: Customers

extension SQL {
    /// Inserts or updates customers by `external_ref`; reports per row whether it was new.
    /// Rows come as parallel arrays; validation happened before (phone, timezone).
    static let customersUpsert = SQLStatement(
        "customers_upsert",
        """
        INSERT INTO campaign.customers AS c (external_ref, name, phone, timezone, status, attributes)
        SELECT r, n, p, tz, coalesce(s, 'ACTIVE')::campaign.customer_status, coalesce(a, '{}')
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[]) AS t(r, n, p, tz, s, a)
        ON CONFLICT (external_ref) DO UPDATE SET
            name = EXCLUDED.name, phone = EXCLUDED.phone, timezone = EXCLUDED.timezone,
            status = CASE WHEN $7::bool THEN c.status ELSE EXCLUDED.status END,
            attributes = EXCLUDED.attributes, updated_at = now()
        RETURNING (xmax = 0) AS inserted
        """)

    static let customerColumns = """
        id, external_ref, name, phone, timezone, status::text AS status, campaign.ts(last_called_at) AS last_called_at,
        attributes, campaign.ts(created_at) AS created_at, campaign.ts(updated_at) AS updated_at
        """

    static let customersGet = SQLStatement(
        "customers_get",
        """
        SELECT \(customerColumns) FROM campaign.customers
        WHERE ($1::bigint IS NOT NULL AND id = $1::bigint) OR ($2::text IS NOT NULL AND external_ref = $2::text)
        """)

    /// In id order, keyset paging (`$3`: after this id), optional status.
    static let customersList = SQLStatement(
        "customers_list",
        """
        SELECT \(customerColumns) FROM campaign.customers
        WHERE ($1::campaign.customer_status IS NULL OR status = $1::campaign.customer_status)
          AND ($3::bigint IS NULL OR id > $3::bigint)
        ORDER BY id LIMIT $2::int
        """)
}
