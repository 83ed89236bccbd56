/// Every SQL statement of the product, each one type named *table + verb* holding its text, its
/// bindings by name and its row decoder (``Statement``). Values always travel as parameters.
///
/// Batch statements take arrays (`unnest($ids::bigint[], …)`), so that one statement serves the
/// requests of many agents. The statements live in one file per concern, as the store's methods:
/// `SQL+Customers`, `+Enqueue`, `+Leasing`, `+Reports`, `+Limits` (eligibility, provider limits,
/// automation), `+Reads`, `+Settings`, `+Campaigns`, `+Events`, `+Retention`; migrations and coordination between coordinators here.
/// Scripts (text without parameters: DDL, `LISTEN`) are plain strings, run unprepared.
enum SQL {
    /// Every statement type, for the tests that prepare them all against the schema.
    static var all: [any Statement.Type] {
        [
        MigrationsApplied.self, MigrationsRecord.self, JobsNotify.self, LeaderTryLock.self, Ping.self,
        CustomersUpsert.self, CustomersGet.self, CustomersList.self,
        JobsEnqueue.self,
        ForceGenericPlans.self, JobsLockDue.self, JobsLeaseWrite.self, JobsLockExpired.self,
        JobsLockClaimedByOwner.self, JobsAdoptLeases.self, JobsRenewLeases.self,
        JobsLockForReport.self, JobsLockForReportOnly.self, JobsApplyTransitions.self, JobsDefer.self, JobsReportView.self,
        CustomersMarkCalled.self, CallLogsInsert.self,
        DialLimitsLock.self, DialCounters.self, DialCountersAdd.self, DialCountersPrune.self,
        AutomationRun.self, CustomersClassify.self,
        JobsList.self, JobsGet.self, CallLogsForJob.self, CallLogsList.self, JobsCountByStatus.self, JobsDueOldest.self, JobsTally.self,
        CallLogsCount.self, LeasesByOwner.self, TimezoneNames.self,
        SettingsAll.self, SettingsWrite.self,
        CampaignsAll.self, CampaignsLock.self, CampaignsInsert.self, CampaignsWrite.self, CampaignsEndOverdue.self,
        JobsLockQueuedOfEnded.self, CampaignMembersCount.self, CampaignMembersChange.self, CampaignsCallCounts.self, JobsCountEndedSkips.self,
        EventsStreamLock.self, EventsNumber.self, EventsAfter.self, EventsBounds.self,
        JobsPruneSlice.self, CallLogsPrune.self, EventsPrune.self, RetentionPrunable.self,
        JobsReconcileLease.self, JobsReconcileNow.self,
        ]
    }

    // MARK: Migrations

    /// Serialises migrators across coordinators: an arbitrary fixed advisory-lock key.
    static let migrationLockKey = "7301946510"

    /// Scripts of the migrator (before the schema exists, so not prepared).
    static let migrationsLock = "SELECT pg_advisory_xact_lock(\(migrationLockKey))"
    static let migrationsBootstrap = """
        CREATE SCHEMA IF NOT EXISTS campaign;
        CREATE TABLE IF NOT EXISTS campaign.schema_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        );
        """

    /// The versions applied so far.
    struct MigrationsApplied: Statement {
        static let sql = StatementSQL(
            "migrations_applied", "SELECT version FROM campaign.schema_migrations ORDER BY version")
        static func decode(_ row: PQRow) throws -> Int { try row.int("version") }
    }

    struct MigrationsRecord: Statement {
        static let sql = StatementSQL(
            "migrations_record", "INSERT INTO campaign.schema_migrations (version, name) VALUES ($version::int, $name)")
        var version: Int
        var name: String
        func bind(_ b: inout Bindings) {
            b.bind("version", self.version)
            b.bind("name", self.name)
        }
    }

    // MARK: Coordination between coordinators

    /// The channel on which coordinators tell each other that jobs may be due.
    static let jobsChannel = "campaign_jobs"

    /// Subscribes the control connection to the jobs channel (a script: no user input).
    static let jobsListen = "LISTEN campaign_jobs"

    /// Tells every coordinator's long polls that jobs may be due; `sender` names the sender,
    /// which ignores its own message. Transactional: sent only if the surrounding transaction commits.
    struct JobsNotify: Statement {
        static let sql = StatementSQL("jobs_notify", "SELECT pg_notify('campaign_jobs', $sender)")
        var sender: String
        func bind(_ b: inout Bindings) { b.bind("sender", self.sender) }
    }

    /// The maintenance leader holds this session-level advisory lock on its control connection;
    /// it is released when that session ends (crash, kill, network loss).
    static let leaderLockKey = "7301946511"

    /// Whether this session holds (now) the leader's lock.
    struct LeaderTryLock: Statement {
        static let sql = StatementSQL(
            "leader_try_lock", "SELECT pg_try_advisory_lock(\(leaderLockKey)) AS locked")
        static func decode(_ row: PQRow) throws -> Bool { row.bool("locked") }
    }

    /// Cheap liveness probe of the database.
    struct Ping: Statement {
        static let sql = StatementSQL("ping", "SELECT 1")
    }
}
