import CampaignStore
import Foundation
import Logging

/// A private, freshly migrated database per test, inside the cluster that `scripts/test` starts.
///
/// Reads `CAMPAIGN_TEST_DATABASE_URL`. When it is missing, tests fail with a message saying how
/// to run them — they never skip themselves into a green run.
public struct TestDatabase: Sendable {
    public struct Missing: Error, CustomStringConvertible {
        public var description: String {
            "CAMPAIGN_TEST_DATABASE_URL is not set: run the suite with scripts/test, which starts a private PostgreSQL"
        }
    }

    /// URL of the new database.
    public let url: String
    public let name: String
    private let adminURL: String

    /// Creates an empty database with a unique name (a copy of `template` when given), in the
    /// suite's cluster or in the one `cluster` names (a URL of any database in it).
    public static func create(_ label: String = "t", template: String? = nil, cluster: String? = nil) async throws -> TestDatabase {
        guard let admin = cluster ?? ProcessInfo.processInfo.environment["CAMPAIGN_TEST_DATABASE_URL"], !admin.isEmpty else {
            throw Missing()
        }
        let name = "test_\(label.lowercased().filter { $0.isLetter || $0.isNumber }.prefix(20))_"
            + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        // CREATE DATABASE waits for other creates (a lock on the template) and copies files: off
        // the cooperative pool, whose few threads every other test of the process needs.
        let created: Result<Void, any Error> = await blocking {
            Result {
                let conn = try PQConnection(url: admin)
                // Identifiers cannot be bound as parameters; `name` is made of [a-z0-9_] only.
                try conn.exec(unsafeSQL: "CREATE DATABASE \(name)" + (template.map { " TEMPLATE \($0)" } ?? ""))
            }
        }
        try created.get()
        return TestDatabase(url: Self.url(admin, database: name), name: name, adminURL: admin)
    }

    /// A database with the schema applied, and a store over it.
    ///
    /// It is a copy of a database migrated once per test process (the migrations' DDL for each of
    /// hundreds of tests was load the whole suite waited on at its start); `migrate()` then finds
    /// every migration applied, as it must.
    public static func migrated(_ label: String = "t", poolSize: Int = 4) async throws -> (TestDatabase, PostgresJobStore) {
        let db = try await create(label, template: try await MigratedTemplate.shared.name())
        let store = db.makeStore(poolSize: poolSize)
        try await store.migrate()
        return (db, store)
    }

    public func makeStore(poolSize: Int = 4) -> PostgresJobStore {
        let logger = Logger(label: "test")
        let pool = DatabasePool(configuration: .init(url: self.url, size: poolSize), logger: logger)
        return PostgresJobStore(pool: pool, logger: logger)
    }

    /// A direct connection for assertions on rows.
    public func connect() throws -> PQConnection {
        try PQConnection(url: self.url)
    }

    /// A connection to the cluster's admin database (for ALTER/DROP DATABASE).
    public func adminConnection() throws -> PQConnection {
        try PQConnection(url: self.adminURL)
    }

    /// Runs a query and returns the first column of the first row.
    public func scalar(_ sql: String, _ params: [String?] = []) throws -> String? {
        let rows = try self.connect().query(unsafeSQL: sql, params)
        return rows.count > 0 ? rows[0, 0] : nil
    }

    /// Drops the database (best effort; the private cluster is thrown away anyway).
    /// Drops the database in the background (on a Dispatch thread: the caller does not wait, and
    /// no cooperative thread is held while PostgreSQL removes the files).
    public func drop() {
        let (admin, name) = (self.adminURL, self.name)
        DispatchQueue.global().async {
            guard let conn = try? PQConnection(url: admin) else { return }
            _ = try? conn.exec(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        }
    }

    /// The same URL with another database name: `scheme://user@host/DB?params`.
    static func url(_ url: String, database: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url + " dbname=\(database)" }
        let rest = url[schemeEnd.upperBound...]
        let query = rest.firstIndex(of: "?").map { String(rest[$0...]) } ?? ""
        let authority = rest[..<(rest.firstIndex(of: "?") ?? rest.endIndex)]
        let host = authority.firstIndex(of: "/").map { authority[..<$0] } ?? authority
        return String(url[..<schemeEnd.upperBound]) + host + "/" + database + query
    }
}

/// The migrated database that ``TestDatabase/migrated(_:poolSize:)`` copies, made on first use.
actor MigratedTemplate {
    static let shared = MigratedTemplate()
    private var made: Task<String, any Error>?

    func name() async throws -> String {
        if let made { return try await made.value }
        let task = Task<String, any Error> {
            let db = try await TestDatabase.create("template")
            let store = db.makeStore(poolSize: 1)
            try await store.migrate()
            // A template must have no connection open when it is copied.
            await store.pool.shutdown()
            return db.name
        }
        self.made = task
        return try await task.value
    }
}
