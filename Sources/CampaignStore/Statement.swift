/// One SQL statement of the store, as one type: its text, the values it binds by name, and how
/// one of its rows reads (the shape of postgres-nio's `PostgresPreparedStatement`).
///
/// The text names its parameters (`$ids::bigint[]`), and `bind(_:)` binds them by the same
/// names, so the order of the `$n` the server sees is nobody's to keep: ``StatementSQL`` numbers
/// the names once, ``Bindings`` puts the values in that order, and a name bound twice, missing or
/// not in the text is an error, not a shifted parameter.
///
/// Internal to CampaignStore: the only other way to send SQL is `PQConnection`'s `unsafeSQL:` calls.
protocol Statement {
    associatedtype Row = Void
    static var sql: StatementSQL { get }
    func bind(_ b: inout Bindings)
    static func decode(_ row: PQRow) throws -> Row
}

extension Statement {
    func bind(_ b: inout Bindings) {}

    /// The values in the text's `$n` order.
    func parameters() throws -> [String?] {
        var b = Bindings()
        self.bind(&b)
        return try b.positional(for: Self.sql)
    }

    /// Every row of a result of this statement, decoded.
    static func rows(_ result: PQRows) throws -> [Row] {
        try result.all.map(Self.decode)
    }

    /// The one row of a result that must have exactly one.
    static func row(_ result: PQRows) throws -> Row {
        guard result.count == 1 else {
            throw StoreError(.unexpectedResult, "\(Self.sql.name): \(result.count) rows where one was expected")
        }
        return try Self.decode(result.row(0))
    }
}

extension Statement where Row == Void {
    static func decode(_ row: PQRow) throws {}
}

/// A statement's text with named parameters, numbered once for the server.
struct StatementSQL: Sendable {
    /// The name it is prepared under on each connection (unique in the store).
    let name: String
    /// The text as sent: each `$name` replaced by `$n`, numbered in order of first use.
    let text: String
    /// The parameter names in `$n` order.
    let parameters: [String]

    /// - Parameter named: SQL whose parameters are `$` and a lower-case name (`$owner`,
    ///   `$lease_seconds`); a name may appear several times. Quoted literals and `--` comments
    ///   are left alone. Numbered parameters (`$1`) are a programming error.
    init(_ name: String, _ named: String) {
        var text = ""
        var parameters: [String] = []
        let bytes = Array(named.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        func isNameByte(_ b: UInt8, first: Bool) -> Bool {
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || b == UInt8(ascii: "_")
                || (!first && b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
        }
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "'") {  // a literal, up to its closing quote ('' stays inside)
                var j = i + 1
                while j < bytes.count, bytes[j] != UInt8(ascii: "'") { j += 1 }
                out += bytes[i..<min(j + 1, bytes.count)]
                i = j + 1
            } else if b == UInt8(ascii: "-"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "-") {
                var j = i
                while j < bytes.count, bytes[j] != UInt8(ascii: "\n") { j += 1 }
                out += bytes[i..<j]
                i = j
            } else if b == UInt8(ascii: "$") {
                precondition(i + 1 < bytes.count && isNameByte(bytes[i + 1], first: true),
                             "statement \(name): parameters are named ($name), not numbered")
                var j = i + 1
                while j < bytes.count, isNameByte(bytes[j], first: false) { j += 1 }
                let parameter = String(decoding: bytes[(i + 1)..<j], as: UTF8.self)
                let n = (parameters.firstIndex(of: parameter) ?? {
                    parameters.append(parameter)
                    return parameters.count - 1
                }()) + 1
                out += Array("$\(n)".utf8)
                i = j
            } else {
                out.append(b)
                i += 1
            }
        }
        text = String(decoding: out, as: UTF8.self)
        self.name = name
        self.text = text
        self.parameters = parameters
    }
}

/// The values of one execution of a statement, by parameter name, in the text format libpq sends.
struct Bindings {
    private(set) var names: [String] = []
    private(set) var values: [String?] = []

    mutating func bind(_ name: String, _ value: String?) {
        self.names.append(name)
        self.values.append(value)
    }

    mutating func bind<T: BinaryInteger>(_ name: String, _ value: T?) {
        self.bind(name, value.map { String($0) })
    }

    mutating func bind(_ name: String, _ value: Bool) {
        self.bind(name, value ? "true" : "false")
    }

    /// An array parameter (`$name::text[]`); nil elements are NULL.
    mutating func bind(_ name: String, array: [String?]) {
        self.bind(name, PGArray.encode(array))
    }

    mutating func bind<T: BinaryInteger>(_ name: String, array: [T?]) {
        self.bind(name, PGArray.encode(array))
    }

    mutating func bind<T: BinaryInteger>(_ name: String, array: [T]) {
        self.bind(name, PGArray.encode(array))
    }

    mutating func bind(_ name: String, array: [Bool]) {
        self.bind(name, PGArray.encode(array.map { $0 ? "t" : "f" }))
    }

    /// The values in the order of `sql`'s parameters; every parameter bound exactly once.
    func positional(for sql: StatementSQL) throws -> [String?] {
        if self.names == sql.parameters { return self.values }  // bound in the text's order
        guard self.names.count == sql.parameters.count, Set(self.names).count == self.names.count else {
            throw self.mismatch(sql)
        }
        return try sql.parameters.map { p in
            guard let i = self.names.firstIndex(of: p) else { throw self.mismatch(sql) }
            return self.values[i]
        }
    }

    private func mismatch(_ sql: StatementSQL) -> StoreError {
        StoreError(
            .unexpectedResult,
            "statement \(sql.name) takes \(sql.parameters.sorted()) but was bound \(self.names.sorted())")
    }
}

/// Statements sent together in one round trip (``PQConnection/pipeline(_:commit:)``); each
/// ``add(_:)`` answers the slot its result is read from.
struct Pipeline {
    struct Step {
        let sql: StatementSQL
        let parameters: [String?]
    }

    /// Where one statement's result is in the ``Results``.
    struct Slot<S: Statement> {
        fileprivate let index: Int
    }

    private(set) var steps: [Step] = []

    init() {}

    @discardableResult
    mutating func add<S: Statement>(_ statement: S) throws -> Slot<S> {
        self.steps.append(Step(sql: S.sql, parameters: try statement.parameters()))
        return Slot(index: self.steps.count - 1)
    }

    /// The results of a pipeline, one per statement, in order.
    struct Results {
        let all: [PQRows]

        subscript<S>(_ slot: Slot<S>) -> PQRows { self.all[slot.index] }

        func rows<S>(_ slot: Slot<S>) throws -> [S.Row] { try S.rows(self.all[slot.index]) }

        func row<S>(_ slot: Slot<S>) throws -> S.Row { try S.row(self.all[slot.index]) }
    }
}
