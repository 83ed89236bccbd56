import CLibPQ
#if canImport(Glibc)
import Glibc
#endif

/// The rows of one result, read as text. Owns the libpq result and frees it.
public final class PQRows: @unchecked Sendable {
    // `@unchecked Sendable`: immutable after creation; libpq results are read-only.
    private let res: OpaquePointer
    /// The column names, read once: `PQfnumber` case-folds a copy of the name and compares it with
    /// every column on each call, and rows are read field by field by name.
    private let names: [String]

    init(_ res: OpaquePointer) {
        self.res = res
        self.names = (0..<PQnfields(res)).map { String(cString: PQfname(res, $0)) }
    }
    deinit { PQclear(self.res) }

    public var count: Int { Int(PQntuples(self.res)) }
    /// Rows changed by an INSERT/UPDATE/DELETE.
    public var affected: Int { Int(String(cString: PQcmdTuples(self.res))) ?? 0 }

    /// The index of the column of this exact (lower-case, as PostgreSQL names unquoted) name.
    public func column(named name: String) -> Int? { self.names.firstIndex(of: name) }

    public subscript(row: Int, column: Int) -> String? {
        if PQgetisnull(self.res, Int32(row), Int32(column)) != 0 { return nil }
        return String(cString: PQgetvalue(self.res, Int32(row), Int32(column)))
    }

    /// The field as a decimal integer read in place (no `String` made); nil when it is NULL or
    /// not an integer that fits.
    public func int64(row: Int, column: Int) -> Int64? {
        if PQgetisnull(self.res, Int32(row), Int32(column)) != 0 { return nil }
        guard let p = PQgetvalue(self.res, Int32(row), Int32(column)) else { return nil }
        let length = Int(PQgetlength(self.res, Int32(row), Int32(column)))
        return UnsafeRawBufferPointer(start: p, count: length).withMemoryRebound(to: UInt8.self) {
            decimalInt64($0)
        }
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
    public func int(_ name: String) throws -> Int { Int(try self.int64(name)) }
    public func int64(_ name: String) throws -> Int64 {
        guard let c = self.rows.column(named: name), let i = self.rows.int64(row: self.index, column: c) else {
            throw StoreError(.unexpectedResult, "column \(name) not an int")
        }
        return i
    }
    public func optionalInt(_ name: String) -> Int? {
        self.rows.column(named: name).flatMap { self.rows.int64(row: self.index, column: $0) }.map { Int($0) }
    }
    public func bool(_ name: String) -> Bool { self[name] == "t" }
}

/// `Int64(String)` on bytes: an optional `-` and decimal digits, nothing else, no overflow.
func decimalInt64(_ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
    var i = 0
    let negative = bytes.first == UInt8(ascii: "-")
    if negative || bytes.first == UInt8(ascii: "+") { i = 1 }
    guard i < bytes.count else { return nil }
    var value: Int64 = 0
    while i < bytes.count {
        let d = bytes[i] &- UInt8(ascii: "0")
        guard d < 10 else { return nil }
        // Accumulate negatively: Int64.min has no positive counterpart.
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (n, o2) = m.subtractingReportingOverflow(Int64(d))
        guard !o1, !o2 else { return nil }
        value = n
        i += 1
    }
    if negative { return value }
    return value == .min ? nil : -value
}
