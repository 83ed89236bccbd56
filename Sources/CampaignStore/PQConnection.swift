import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// A named SQL statement, prepared once per connection and then executed by name.
public struct SQLStatement: Sendable, Hashable {
    public let name: String
    public let sql: String
    public init(_ name: String, _ sql: String) {
        self.name = name
        self.sql = sql
    }
}

/// A thin, blocking wrapper over one libpq connection.
///
/// Every call blocks the calling thread: use it only from the pool's threads
/// (``DatabasePool/withConnection(_:)``), never from Swift's cooperative pool.
/// Parameters are always sent separately from the SQL text (`$n`), in text format.
///
/// `@unchecked Sendable`: a connection is owned by exactly one borrower at a time; the pool
/// hands it out and takes it back under its lock, so no two threads ever touch it at once.
public final class PQConnection: @unchecked Sendable {
    private var conn: OpaquePointer?
    private let url: String
    private var prepared: Set<String> = []

    /// Connects; throws ``StoreError/Code/connectionFailed`` when the server is unreachable.
    public init(url: String) throws {
        self.url = url
        try self.connect()
    }

    deinit {
        if let conn = self.conn { PQfinish(conn) }
    }

    private func connect() throws {
        if let conn = self.conn { PQfinish(conn) }
        self.prepared.removeAll()
        let conn = PQconnectdb(self.url)
        self.conn = conn
        guard let conn, PQstatus(conn) == CONNECTION_OK else {
            let message = self.conn.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            throw StoreError(.connectionFailed, "cannot connect to PostgreSQL", serverMessage: message)
        }
        // Quiet NOTICEs (for example "schema already exists") instead of printing them on stderr.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        _ = try self.exec("SET application_name = 'campaign-coordinator'")
    }

    /// True when the connection is usable (it may still fail on the next statement).
    public var isHealthy: Bool {
        guard let conn = self.conn else { return false }
        return PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE
    }

    /// Reconnects when the connection is broken or left inside a transaction.
    public func ensureHealthy() throws {
        if self.isHealthy { return }
        if let conn = self.conn, PQstatus(conn) == CONNECTION_OK {
            // Left in a transaction by a failed borrower: roll it back.
            _ = PQexec(conn, "ROLLBACK").map { PQclear($0) }
            if PQtransactionStatus(conn) == PQTRANS_IDLE { return }
        }
        try self.connect()
    }

    /// Runs SQL without parameters (DDL, BEGIN/COMMIT). Returns the rows, if any.
    @discardableResult
    public func exec(_ sql: String) throws -> PQRows {
        guard let conn = self.conn else { throw StoreError(.connectionFailed, "not connected") }
        let res = PQexec(conn, sql)
        return try self.consume(res, what: "statement")
    }

    /// Runs a parameterized statement once (not prepared).
    @discardableResult
    public func query(_ sql: String, _ params: [String?] = []) throws -> PQRows {
        guard let conn = self.conn else { throw StoreError(.connectionFailed, "not connected") }
        let res = withCStrings(params) { ptrs in
            PQexecParams(conn, sql, Int32(params.count), nil, ptrs, nil, nil, 0)
        }
        return try self.consume(res, what: "query")
    }

    /// Runs a named statement, preparing it on this connection the first time.
    @discardableResult
    public func execute(_ statement: SQLStatement, _ params: [String?] = []) throws -> PQRows {
        guard let conn = self.conn else { throw StoreError(.connectionFailed, "not connected") }
        if !self.prepared.contains(statement.name) {
            let res = PQprepare(conn, statement.name, statement.sql, Int32(params.count), nil)
            _ = try self.consume(res, what: "prepare \(statement.name)")
            self.prepared.insert(statement.name)
        }
        let res = withCStrings(params) { ptrs in
            PQexecPrepared(conn, statement.name, Int32(params.count), ptrs, nil, nil, 0)
        }
        return try self.consume(res, what: statement.name)
    }

    /// Waits up to `timeoutMs` for notifications (after `LISTEN`) and returns their payloads.
    /// Returns early, possibly empty, when anything arrives on the connection.
    public func waitForNotifications(timeoutMs: Int32) throws -> [String] {
        guard let conn = self.conn else { throw StoreError(.connectionFailed, "not connected") }
        var payloads = self.drainNotifications()
        if !payloads.isEmpty { return payloads }
        var fds = pollfd(fd: PQsocket(conn), events: Int16(POLLIN), revents: 0)
        let ready = poll(&fds, 1, timeoutMs)
        if ready < 0 && errno != EINTR {
            throw StoreError(.connectionFailed, "poll on the database connection failed")
        }
        if ready > 0 {
            guard PQconsumeInput(conn) == 1 else {
                throw StoreError(
                    .connectionFailed, "database connection lost", serverMessage: String(cString: PQerrorMessage(conn)))
            }
            payloads = self.drainNotifications()
        }
        return payloads
    }

    private func drainNotifications() -> [String] {
        guard let conn = self.conn else { return [] }
        var out: [String] = []
        while let n = PQnotifies(conn) {
            out.append(String(cString: n.pointee.extra))
            PQfreemem(n)
        }
        return out
    }

    /// Runs `body` inside BEGIN … COMMIT; rolls back when it throws.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try self.exec("BEGIN")
        do {
            let value = try body()
            try self.exec("COMMIT")
            return value
        } catch {
            if let conn = self.conn, PQstatus(conn) == CONNECTION_OK {
                _ = PQexec(conn, "ROLLBACK").map { PQclear($0) }
            }
            throw error
        }
    }

    private func consume(_ res: OpaquePointer?, what: String) throws -> PQRows {
        guard let res else {
            let message = self.conn.map { String(cString: PQerrorMessage($0)) } ?? ""
            throw StoreError(.connectionFailed, "no result for \(what)", serverMessage: message)
        }
        let status = PQresultStatus(res)
        switch status {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
            return PQRows(res)
        default:
            defer { PQclear(res) }
            let message = String(cString: PQresultErrorMessage(res))
            let state = PQresultErrorField(res, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            if let conn = self.conn, PQstatus(conn) != CONNECTION_OK {
                throw StoreError(.connectionFailed, "connection lost during \(what)", serverMessage: message,
                                 sqlState: state)
            }
            throw StoreError(.queryFailed, "\(what) failed", serverMessage: message, sqlState: state)
        }
    }
}

private func withCStrings<R>(_ strings: [String?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    let owned: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } ?? nil }
    defer { for p in owned { free(p) } }
    return body(owned.map { UnsafePointer($0) })
}

/// The rows of one result, read as text. Owns the libpq result and frees it.
public final class PQRows: @unchecked Sendable {
    // `@unchecked Sendable`: immutable after creation; libpq results are read-only.
    private let res: OpaquePointer

    init(_ res: OpaquePointer) { self.res = res }
    deinit { PQclear(self.res) }

    public var count: Int { Int(PQntuples(self.res)) }
    /// Rows changed by an INSERT/UPDATE/DELETE.
    public var affected: Int { Int(String(cString: PQcmdTuples(self.res))) ?? 0 }

    public func column(named name: String) -> Int? {
        let i = Int(PQfnumber(self.res, name))
        return i < 0 ? nil : i
    }

    public subscript(row: Int, column: Int) -> String? {
        if PQgetisnull(self.res, Int32(row), Int32(column)) != 0 { return nil }
        return String(cString: PQgetvalue(self.res, Int32(row), Int32(column)))
    }

    /// A row accessor that reads columns by name.
    public func row(_ i: Int) -> PQRow { PQRow(rows: self, index: i) }

    public var all: [PQRow] { (0..<self.count).map { self.row($0) } }
}

/// One row of a ``PQRows``, read by column name.
public struct PQRow {
    let rows: PQRows
    let index: Int

    public subscript(_ name: String) -> String? {
        guard let c = self.rows.column(named: name) else { return nil }
        return self.rows[self.index, c]
    }

    public func string(_ name: String) throws -> String {
        guard let v = self[name] else { throw StoreError(.unexpectedResult, "column \(name) is null or missing") }
        return v
    }
    public func int(_ name: String) throws -> Int {
        guard let v = self[name], let i = Int(v) else { throw StoreError(.unexpectedResult, "column \(name) not an int") }
        return i
    }
    public func int64(_ name: String) throws -> Int64 {
        guard let v = self[name], let i = Int64(v) else {
            throw StoreError(.unexpectedResult, "column \(name) not an int")
        }
        return i
    }
    public func optionalInt(_ name: String) -> Int? { self[name].flatMap { Int($0) } }
    public func bool(_ name: String) -> Bool { self[name] == "t" }
}
