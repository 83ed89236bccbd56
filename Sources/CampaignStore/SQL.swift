/// Every SQL statement of the product, named *table + verb*. Parameters are always `$n` binds.
///
/// Batch statements take arrays (`unnest($1::bigint[], …)`), so that one statement serves the
/// requests of many agents. The statements live in one file per concern, as the store's methods:
/// `SQL+Customers`, `+Enqueue`, `+Leasing`, `+Limits` (eligibility, provider limits, automation),
/// `+Reads`, `+Settings`; migrations and coordination between coordinators here.
public enum SQL {
    // MARK: Migrations

    /// Serialises migrators across coordinators: an arbitrary fixed advisory-lock key.
    static let migrationLockKey = "7301946510"

    static let migrationsLock = "SELECT pg_advisory_xact_lock(\(migrationLockKey))"
    static let migrationsBootstrap = """
        CREATE SCHEMA IF NOT EXISTS campaign;
        CREATE TABLE IF NOT EXISTS campaign.schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        """
    static let migrationsApplied = "SELECT version FROM campaign.schema_migrations ORDER BY version"
    static let migrationsRecord = "INSERT INTO campaign.schema_migrations (version, name) VALUES ($1::int, $2)"

    // MARK: Coordination between coordinators

    /// The channel on which coordinators tell each other that jobs may be due.
    static let jobsChannel = "campaign_jobs"

    /// Subscribes the control connection to the jobs channel (a constant: no user input).
    static let jobsListen = "LISTEN campaign_jobs"

    /// Tells every coordinator's long polls that jobs may be due; `$1` names the sender, which
    /// ignores its own message. Transactional: sent only if the surrounding transaction commits.
    static let jobsNotify = SQLStatement("jobs_notify", "SELECT pg_notify('campaign_jobs', $1)")

    /// The maintenance leader holds this session-level advisory lock on its control connection;
    /// it is released when that session ends (crash, kill, network loss).
    static let leaderLockKey = "7301946511"
    static let leaderTryLock = SQLStatement(
        "leader_try_lock", "SELECT pg_try_advisory_lock(\(leaderLockKey)) AS locked")

    /// Cheap liveness probe of the database.
    static let ping = SQLStatement("ping", "SELECT 1")
}
