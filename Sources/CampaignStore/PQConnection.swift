import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// A thin, blocking wrapper over one libpq connection, with a deadline on every wait.
///
/// Every call blocks the calling thread: use it only from the pool's threads
/// (``DatabasePool/withConnection(_:)``), never from Swift's cooperative pool.
/// Parameters are always sent separately from the SQL text (`$n`), in text format.
///
/// libpq runs in non-blocking mode underneath: the connection waits for the server with
/// `poll(2)` itself, and never past ``deadline``. A server that stops answering (frozen, a stuck
/// disk, a partition) costs a call at most its deadline: the connection is then closed, since it
/// is mid-statement in an unknown state, and the call throws ``StoreError/Code/timedOut``. A
/// frozen server could not serve a cancel request either, so none is sent; the server drops the
/// work itself when it sees the connection gone (`client_connection_check_interval`, set on every
/// connection when the server knows it).
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

    /// When every wait for the server ends (nil: never). The pool sets it for each borrow;
    /// past it, a call closes the connection and throws ``StoreError/Code/timedOut``.
    public var deadline: ContinuousClock.Instant?

    /// Connects, waiting at most until `deadline`; throws ``StoreError/Code/connectionFailed``
    /// when the server is unreachable, ``StoreError/Code/timedOut`` when it does not answer.
    public init(url: String, deadline: ContinuousClock.Instant? = nil) throws {
        self.url = url
        self.deadline = deadline
        try self.connect()
    }

    deinit {
        if let conn = self.conn { PQfinish(conn) }
    }

    /// What the connection asks for unless the URL says otherwise (the URL's own values win):
    /// TCP keepalives that find a dead peer within about a minute (a LISTEN connection idles for
    /// long), and this program's name in `pg_stat_activity`.
    private static let defaults: [(String, String)] = [
        ("application_name", "campaign-coordinator"),
        ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3"),
        ("tcp_user_timeout", "60000"),
    ]

    private func connect() throws {
        if let conn = self.conn { PQfinish(conn) }
        self.conn = nil
        self.prepared.removeAll()
        self.transactionState = .none
        // The defaults first, then the URL expanded in place of `dbname`: its values override them.
        let pairs = Self.defaults + [("dbname", self.url)]
        let started = withCStrings(pairs.map(\.0)) { keys in
            withCStrings(pairs.map(\.1)) { values in
                PQconnectStartParams(keys + [nil], values + [nil], 1)
            }
        }
        guard let conn = started else {
            throw StoreError(.connectionFailed, "cannot connect to PostgreSQL", serverMessage: "out of memory")
        }
        self.conn = conn
        func failed(_ what: String) -> StoreError {
            let message = String(cString: PQerrorMessage(conn))
            PQfinish(conn)
            self.conn = nil
            return StoreError(.connectionFailed, what, serverMessage: message)
        }
        guard PQstatus(conn) != CONNECTION_BAD else { throw failed("cannot connect to PostgreSQL") }
        var polling = PGRES_POLLING_WRITING
        while polling != PGRES_POLLING_OK {
            switch polling {
            case PGRES_POLLING_READING: try self.wait(conn, for: POLLIN, during: "connecting")
            case PGRES_POLLING_WRITING: try self.wait(conn, for: POLLOUT, during: "connecting")
            case PGRES_POLLING_FAILED: throw failed("cannot connect to PostgreSQL")
            default: break
            }
            polling = PQconnectPoll(conn)
        }
        guard PQsetnonblocking(conn, 1) == 0 else { throw failed("cannot make the connection non-blocking") }
        // Quiet NOTICEs (for example "schema already exists") instead of printing them on stderr.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        // The server drops a statement whose client went away (a deadline passed) within 2 s,
        // instead of running it to the end. PostgreSQL 14 and later on Linux; older ones refuse
        // the name, which costs nothing.
        do {
            try self.exec("SET client_connection_check_interval = 2000")
        } catch let error as StoreError where error.code == .queryFailed {}
    }

    /// Waits until the connection's socket is ready for `events`, or throws at the deadline
    /// (closing the connection: it is mid-message, in no state to be used again).
    private func wait(_ conn: OpaquePointer, for events: Int32, during what: String) throws {
        let fd = PQsocket(conn)
        guard fd >= 0 else { throw self.broken(conn, "no socket while \(what)") }
        while true {
            var timeout: Int32 = -1
            if let deadline = self.deadline {
                let left = deadline - ContinuousClock.now
                guard left > .zero else { throw self.timedOut(conn, what) }
                let ms = left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000
                timeout = Int32(clamping: max(1, ms))
            }
            var p = pollfd(fd: fd, events: Int16(events), revents: 0)
            let ready = poll(&p, 1, timeout)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw self.broken(conn, "poll failed while \(what)") }
        }
    }

    /// Sends what libpq still holds (non-blocking mode queues it), reading meanwhile so that the
    /// server is never stuck writing to us while we write to it.
    private func flush(_ conn: OpaquePointer, _ what: String) throws {
        while true {
            let r = PQflush(conn)
            if r == 0 { return }
            if r < 0 { throw self.broken(conn, "cannot send \(what)") }
            try self.wait(conn, for: POLLOUT | POLLIN, during: "sending \(what)")
            guard PQconsumeInput(conn) == 1 else { throw self.broken(conn, "connection lost sending \(what)") }
        }
    }

    /// The next result (nil: the current query's results are all read), waiting for it at most
    /// until the deadline.
    private func nextResult(_ conn: OpaquePointer, _ what: String) throws -> OpaquePointer? {
        while PQisBusy(conn) == 1 {
            try self.wait(conn, for: POLLIN, during: what)
            guard PQconsumeInput(conn) == 1 else { throw self.broken(conn, "connection lost during \(what)") }
        }
        return PQgetResult(conn)
    }

    /// Flushes a query sent with one of libpq's `PQsend…` and reads all its results, as
    /// `PQexec` would: the first error's result if any, else the last result.
    private func collect(_ conn: OpaquePointer, sent: Int32, _ what: String) throws -> OpaquePointer? {
        guard sent == 1 else { throw self.broken(conn, "cannot send \(what)") }
        try self.flush(conn, what)
        var kept: OpaquePointer?
        while let res = try self.nextResult(conn, what) {
            if let k = kept, !Self.succeeded(k) {
                PQclear(res)
            } else {
                if let k = kept { PQclear(k) }
                kept = res
            }
        }
        return kept
    }

    private static func succeeded(_ res: OpaquePointer) -> Bool {
        let status = PQresultStatus(res)
        return status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY
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
            _ = try? self.exec("ROLLBACK")
            if let conn = self.conn, PQtransactionStatus(conn) == PQTRANS_IDLE { return }
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
        let sent = withCStrings(params) { ptrs in
            PQsendQueryParams(conn, sql, Int32(params.count), nil, ptrs, nil, nil, 0)
        }
        return try self.consume(try self.collect(conn, sent: sent, "query"), what: "query")
    }

    /// Runs one of the store's scripts: text without parameters, not prepared (migrations' DDL,
    /// LISTEN, ROLLBACK). Returns the rows, if any.
    @discardableResult
    func exec(_ sql: String) throws -> PQRows {
        guard let conn = self.conn else { throw StoreError(.connectionFailed, "not connected") }
        try self.sendPendingBegin(conn)
        return try self.consume(try self.collect(conn, sent: PQsendQuery(conn, sql), "statement"), what: "statement")
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
            try self.prepare(conn, statement.name, statement.text, count: statement.parameters.count)
        }
        let what = "describe \(statement.name)"
        guard let described = try self.collect(conn, sent: PQsendDescribePrepared(conn, statement.name), what) else {
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
            try self.prepare(conn, statement.name, statement.text, count: params.count)
        }
        let sent = withCStrings(params) { ptrs in
            PQsendQueryPrepared(conn, statement.name, Int32(params.count), ptrs, nil, nil, 0)
        }
        return try self.consume(try self.collect(conn, sent: sent, statement.name), what: statement.name)
    }

    private func prepare(_ conn: OpaquePointer, _ name: String, _ text: String, count: Int) throws {
        let what = "prepare \(name)"
        _ = try self.consume(try self.collect(conn, sent: PQsendPrepare(conn, name, text, Int32(count), nil), what), what: what)
        self.prepared.insert(name)
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
                _ = try? self.exec("ROLLBACK")
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
        try self.flush(conn, "a pipeline")

        // Every result up to the sync is read, also after an error (the rest come back aborted).
        var rows: [PQRows] = []
        var firstError: StoreError?
        for item in sent {
            guard let res = try self.nextResult(conn, "a pipeline") else {
                throw self.broken(conn, "a result of the pipeline is missing")
            }
            // Each statement's result is followed by a NULL.
            while let extra = try self.nextResult(conn, "a pipeline") { PQclear(extra) }
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
        guard let sync = try self.nextResult(conn, "a pipeline"), PQresultStatus(sync) == PGRES_PIPELINE_SYNC else {
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
        _ = try self.consume(try self.collect(conn, sent: PQsendQuery(conn, "BEGIN"), "BEGIN"), what: "BEGIN")
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

    /// The deadline passed while waiting for the server: the connection is closed (see the type).
    private func timedOut(_ conn: OpaquePointer, _ what: String) -> StoreError {
        PQfinish(conn)
        self.conn = nil
        self.prepared.removeAll()
        return StoreError(.timedOut, "the database did not answer in time (\(what))")
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
