enum Migration0015Suppressions {
    /// The suppression list, consent and the audit of the law's refusals (issue 15).
    ///
    /// - `suppressions`: numbers not to call (E.164), with why, from where, who added them and
    ///   when, and optionally until when. Checked by `automation.run` and at the pre-dial check
    ///   (`suppressed`); a placer's opt-out adds one in the transaction of its report.
    /// - `suppression_changes`: every addition, change and removal, kept as long as call logs
    ///   (the compliance record).
    /// - `dial_refusals`: every refusal and deferral of the pre-dial check (who, when, why, until
    ///   when), kept as long as call logs.
    /// - `customers_phone`: an opt-out reported on a call finds every customer of the number.
    /// - `customers.consent`: the consent on record (basis, when, source, proof) that campaigns
    ///   with `requireConsent` call only customers with.
    static let migration = Migration(
        version: 15, name: "suppressions",
        sql: #"""
            CREATE TABLE campaign.suppressions (
                phone      text PRIMARY KEY,
                reason     text NOT NULL,
                source     text NOT NULL,
                added_at   timestamptz NOT NULL DEFAULT now(),
                added_by   text NOT NULL,
                expires_at timestamptz
            );

            CREATE TABLE campaign.suppression_changes (
                id         bigserial PRIMARY KEY,
                phone      text NOT NULL,
                action     text NOT NULL CHECK (action IN ('added', 'updated', 'removed')),
                reason     text,
                source     text,
                expires_at timestamptz,
                by         text NOT NULL,
                at         timestamptz NOT NULL DEFAULT now()
            );
            CREATE INDEX suppression_changes_at ON campaign.suppression_changes (at);

            CREATE TABLE campaign.dial_refusals (
                id          bigserial PRIMARY KEY,
                at          timestamptz NOT NULL DEFAULT now(),
                job_id      bigint NOT NULL,
                campaign_id bigint NOT NULL,
                customer_id bigint NOT NULL,
                phone       text NOT NULL,
                rule        text NOT NULL,
                until       timestamptz,
                by          text NOT NULL
            );
            CREATE INDEX dial_refusals_at ON campaign.dial_refusals (at);

            ALTER TABLE campaign.customers ADD COLUMN consent jsonb;
            -- An opt-out finds every customer (and so every open job) of its number.
            CREATE INDEX customers_phone ON campaign.customers (phone);
            """#)
}
