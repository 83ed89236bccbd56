import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

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
    /// Where ``transaction(_:)`` stands: its BEGIN goes out with the first statement, and a
    /// pipeline may carry its COMMIT (fewer round trips per transaction, issue 11).
    private var transactionState = TransactionState.none

    private enum TransactionState { case none, beginPending, open, committed }

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
        self.transactionState = .none
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

    /// Runs SQL text from outside CampaignStore (tests, tools), without parameters: the label
    /// says that this text is not one of the store's statements.
    @discardableResult
    public func exec(unsafeSQL sql: String) throws -> PQRows {
        try self.exec(sql)
    }

    /// Runs a parameterized SQL text from outside CampaignStore once (not prepared).
    @discardableResult
    public func query(unsafeSQL sql: String, _ params: [String?] = []) throws -> PQRows {
        guard let conn = self.conn else { throw StoreError(.connectionFailed, "not connected") }
        try self.sendPendingBegin(conn)
        let res = withCStrings(params) { ptrs in
            PQexecParams(conn, sql, Int32(params.count), nil, ptrs, nil, nil, 0)
        }
        return try self.consume(res, what: "query")
    }

    /// Runs one of the store's scripts: text without parameters, not prepared (migrations' DDL,
    /// LISTEN, ROLLBACK). Returns the rows, if any.
    @discardableResult
    func exec(_ sql: String) throws -> PQRows {
        guard let conn = self.conn else { throw StoreError(.connectionFailed, "not connected") }
        try self.sendPendingBegin(conn)
        let res = PQexec(conn, sql)
        return try self.consume(res, what: "statement")
    }

    /// Runs one of the store's statements, preparing it on this connection the first time.
    @discardableResult
    func run<S: Statement>(_ statement: S) throws -> PQRows {
        try self.execute(S.sql, try statement.parameters())
    }

    /// Runs a statement and decodes its rows.
    func rows<S: Statement>(_ statement: S) throws -> [S.Row] {
        try S.rows(self.run(statement))
    }

    /// Runs a statement that answers exactly one row, and decodes it.
    func row<S: Statement>(_ statement: S) throws -> S.Row {
        try S.row(self.run(statement))
    }

    /// Prepares a statement without running it and answers how many parameters the server
    /// found in it (for the test that holds every statement to the schema and to its names).
    func prepareAndDescribe(_ statement: StatementSQL) throws -> Int {
        guard let conn = self.conn else { throw StoreError(.connectionFailed, "not connected") }
        if !self.prepared.contains(statement.name) {
            let res = PQprepare(conn, statement.name, statement.text, Int32(statement.parameters.count), nil)
            _ = try self.consume(res, what: "prepare \(statement.name)")
            self.prepared.insert(statement.name)
        }
        guard let described = PQdescribePrepared(conn, statement.name) else {
            throw self.broken(conn, "cannot describe \(statement.name)")
        }
        defer { PQclear(described) }
        guard PQresultStatus(described) == PGRES_COMMAND_OK else {
            throw StoreError(.queryFailed, "describe \(statement.name): \(String(cString: PQresultErrorMessage(described)))")
        }
        return Int(PQnparams(described))
    }

    private func execute(_ statement: StatementSQL, _ params: [String?]) throws -> PQRows {
        guard let conn = self.conn else { throw StoreError(.connectionFailed, "not connected") }
        if self.transactionState == .beginPending {
            // With the BEGIN, in one round trip.
            return try self.pipeline([Pipeline.Step(sql: statement, parameters: params)], commit: false)[0]
        }
        try self.checkNotCommitted()
        if !self.prepared.contains(statement.name) {
            let res = PQprepare(conn, statement.name, statement.text, Int32(params.count), nil)
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
    ///
    /// The BEGIN is sent with the body's first statement, and a ``pipeline(_:commit:)`` may send
    /// the COMMIT with the body's last statements; a body that runs nothing sends nothing.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        self.transactionState = .beginPending
        do {
            let value = try body()
            if self.transactionState == .open {
                self.transactionState = .none
                try self.exec("COMMIT")
            }
            self.transactionState = .none
            return value
        } catch {
            let begun = self.transactionState != .beginPending
            self.transactionState = .none
            if begun, let conn = self.conn, PQstatus(conn) == CONNECTION_OK {
                _ = PQexec(conn, "ROLLBACK").map { PQclear($0) }
            }
            throw error
        }
    }

    /// Sends the statements at once (libpq pipeline mode) and waits for their results: one round
    /// trip instead of one per statement. Statements still run one after the other, in order; the
    /// first that fails makes the rest not run, and its error is thrown (inside a transaction,
    /// the transaction is then rolled back by ``transaction(_:)``). Inside a transaction, a BEGIN
    /// not sent yet goes first and, with `commit`, the COMMIT goes last: then nothing more may run
    /// in this transaction.
    ///
    /// The results are read only after everything is sent; that is safe (no pipeline deadlock)
    /// because the statements sent are small beside the socket's buffers.
    func pipeline(_ pipeline: Pipeline, commit: Bool = false) throws -> Pipeline.Results {
        Pipeline.Results(all: try self.pipeline(pipeline.steps, commit: commit))
    }

    private func pipeline(_ steps: [Pipeline.Step], commit: Bool) throws -> [PQRows] {
        guard let conn = self.conn else { throw StoreError(.connectionFailed, "not connected") }
        try self.checkNotCommitted()
        let begin = self.transactionState == .beginPending
        let end = commit && (begin || self.transactionState == .open)
        if begin { self.transactionState = .open }

        guard PQenterPipelineMode(conn) == 1 else {
            throw self.broken(conn, "cannot enter pipeline mode")
        }
        // What each result read back is: a prepare (not returned), a statement, BEGIN or COMMIT.
        enum Sent { case prepare(String), statement(String), control(String) }
        var sent: [Sent] = []
        func sendControl(_ sql: String) throws {
            guard PQsendQueryParams(conn, sql, 0, nil, nil, nil, nil, 0) == 1 else {
                throw self.broken(conn, "cannot send \(sql)")
            }
            sent.append(.control(sql))
        }
        if begin { try sendControl("BEGIN") }
        var preparing = Set<String>()
        for step in steps {
            let (statement, params) = (step.sql, step.parameters)
            if !self.prepared.contains(statement.name) && !preparing.contains(statement.name) {
                guard PQsendPrepare(conn, statement.name, statement.text, Int32(params.count), nil) == 1 else {
                    throw self.broken(conn, "cannot send prepare \(statement.name)")
                }
                preparing.insert(statement.name)
                sent.append(.prepare(statement.name))
            }
            let ok = withCStrings(params) { ptrs in
                PQsendQueryPrepared(conn, statement.name, Int32(params.count), ptrs, nil, nil, 0)
            }
            guard ok == 1 else { throw self.broken(conn, "cannot send \(statement.name)") }
            sent.append(.statement(statement.name))
        }
        if end { try sendControl("COMMIT") }
        guard PQpipelineSync(conn) == 1 else { throw self.broken(conn, "cannot send the pipeline's sync") }

        // Every result up to the sync is read, also after an error (the rest come back aborted).
        var rows: [PQRows] = []
        var firstError: StoreError?
        for item in sent {
            guard let res = PQgetResult(conn) else { throw self.broken(conn, "a result of the pipeline is missing") }
            // Each statement's result is followed by a NULL.
            while let extra = PQgetResult(conn) { PQclear(extra) }
            if PQresultStatus(res) == PGRES_PIPELINE_ABORTED {
                PQclear(res)
                continue
            }
            let what: String
            switch item {
            case .prepare(let name): what = "prepare \(name)"
            case .statement(let name): what = name
            case .control(let sql): what = sql
            }
            do {
                let result = try self.consume(res, what: what)
                switch item {
                case .prepare(let name): self.prepared.insert(name)
                case .statement: rows.append(result)
                case .control: break
                }
            } catch let error as StoreError {
                if firstError == nil { firstError = error }
            }
        }
        guard let sync = PQgetResult(conn), PQresultStatus(sync) == PGRES_PIPELINE_SYNC else {
            throw self.broken(conn, "the pipeline's sync is missing")
        }
        PQclear(sync)
        guard PQexitPipelineMode(conn) == 1 else { throw self.broken(conn, "cannot leave pipeline mode") }
        if let firstError { throw firstError }
        if end { self.transactionState = .committed }
        return rows
    }

    /// The BEGIN of ``transaction(_:)`` on its own, before a statement that is not pipelined.
    private func sendPendingBegin(_ conn: OpaquePointer) throws {
        try self.checkNotCommitted()
        guard self.transactionState == .beginPending else { return }
        self.transactionState = .open
        _ = try self.consume(PQexec(conn, "BEGIN"), what: "BEGIN")
    }

    private func checkNotCommitted() throws {
        if self.transactionState == .committed {
            throw StoreError(.unexpectedResult, "a statement after its transaction's COMMIT (a bug in the store)")
        }
    }

    /// A connection left in an unknown state mid-pipeline: closed, so that the pool's
    /// ``ensureHealthy()`` opens a new one.
    private func broken(_ conn: OpaquePointer, _ what: String) -> StoreError {
        let message = String(cString: PQerrorMessage(conn))
        PQfinish(conn)
        self.conn = nil
        self.prepared.removeAll()
        return StoreError(.connectionFailed, what, serverMessage: message)
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
