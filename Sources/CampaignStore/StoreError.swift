/// An error of the database layer, with the SQLSTATE when the server sent one.
///
/// `description` stays generic: no SQL parameters, no phone numbers. Details (the server's
/// message) are in `debugDescription`.
public struct StoreError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case connectionFailed, queryFailed, unexpectedResult, poolClosed, timedOut
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The server could not be reached or the connection broke.
        public static let connectionFailed = Code(.connectionFailed)
        /// The server refused a statement (see `sqlState`).
        public static let queryFailed = Code(.queryFailed)
        /// A result did not have the expected shape (a bug, or a schema out of step).
        public static let unexpectedResult = Code(.unexpectedResult)
        /// The pool was shut down.
        public static let poolClosed = Code(.poolClosed)
        /// The server did not answer before the call's deadline (frozen, a stuck disk, a
        /// partition, or every pooled connection busy that long).
        public static let timedOut = Code(.timedOut)

        public var description: String { self.base.rawValue }
    }

    public var code: Code
    /// What happened, in words that are safe to log.
    public var message: String
    /// The server's own message (may quote data): for debug output only.
    public var serverMessage: String?
    /// The five-character SQLSTATE, when the server sent one.
    public var sqlState: String?

    public init(_ code: Code, _ message: String, serverMessage: String? = nil, sqlState: String? = nil) {
        self.code = code
        self.message = message
        self.serverMessage = serverMessage
        self.sqlState = sqlState
    }

    /// True when the database (not the statement) is the problem: retrying later may help.
    public var isUnavailable: Bool {
        if self.code == .connectionFailed || self.code == .poolClosed || self.code == .timedOut { return true }
        guard let state = self.sqlState else { return false }
        // 08: connection exception; 57P01-03: admin shutdown, crash shutdown, cannot connect now;
        // 53: insufficient resources.
        return state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53")
    }

    /// True for a serialization failure or deadlock: the transaction may simply be retried.
    public var isTransient: Bool {
        self.sqlState == "40001" || self.sqlState == "40P01"
    }

    public var description: String {
        if let s = self.sqlState { return "database error \(self.code): \(self.message) [SQLSTATE \(s)]" }
        return "database error \(self.code): \(self.message)"
    }

    public var debugDescription: String {
        self.description + (self.serverMessage.map { " — \($0)" } ?? "")
    }
}
