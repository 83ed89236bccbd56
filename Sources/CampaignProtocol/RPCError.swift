/// A JSON-RPC 2.0 error object.
///
/// Standard codes are used as the specification defines them. Application errors use codes
/// outside the reserved range −32768…−32000, and always carry a stable symbolic name in
/// `data.code` and whether retrying can help in `data.retryable`.
public struct RPCError: Error, Sendable, Codable, Hashable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var data: JSONValue?

    public init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    public init(_ code: RPCErrorCode, _ message: String, details: [String: JSONValue] = [:]) {
        var data = details
        data["code"] = .string(code.name)
        data["retryable"] = .bool(code.retryable)
        self.init(code: code.number, message: message, data: .object(data))
    }

    /// The symbolic name in `data.code`, if any.
    public var symbol: String? { self.data?["code"]?.stringValue }

    public var retryable: Bool {
        if case .bool(let b)? = self.data?["retryable"] { return b }
        return false
    }

    public var description: String {
        if let symbol = self.symbol { return "\(self.message) (\(symbol), \(self.code))" }
        return "\(self.message) (\(self.code))"
    }
}

/// The error code table. `protocol/README.md` documents the same table.
public struct RPCErrorCode: Sendable, Hashable {
    public let number: Int
    public let name: String
    public let retryable: Bool

    // JSON-RPC 2.0 standard codes.
    public static let parseError = RPCErrorCode(number: -32700, name: "PARSE_ERROR", retryable: false)
    public static let invalidRequest = RPCErrorCode(number: -32600, name: "INVALID_REQUEST", retryable: false)
    public static let methodNotFound = RPCErrorCode(number: -32601, name: "METHOD_NOT_FOUND", retryable: false)
    public static let invalidParams = RPCErrorCode(number: -32602, name: "INVALID_PARAMS", retryable: false)
    public static let internalError = RPCErrorCode(number: -32603, name: "INTERNAL_ERROR", retryable: false)

    // Application codes.
    /// The report's lease token is not the job's current one: the lease was lost. Drop the report.
    public static let leaseLost = RPCErrorCode(number: 1001, name: "LEASE_LOST", retryable: false)
    public static let notFound = RPCErrorCode(number: 1002, name: "NOT_FOUND", retryable: false)
    public static let invalidState = RPCErrorCode(number: 1003, name: "INVALID_STATE", retryable: false)
    public static let forbidden = RPCErrorCode(number: 1004, name: "FORBIDDEN", retryable: false)
    public static let databaseUnavailable = RPCErrorCode(
        number: 1005, name: "DATABASE_UNAVAILABLE", retryable: true)
    public static let automationDisabled = RPCErrorCode(
        number: 1006, name: "AUTOMATION_DISABLED", retryable: false)
    public static let validationFailed = RPCErrorCode(number: 1007, name: "VALIDATION_FAILED", retryable: false)
    /// A per-connection limit (line length, batch size, calls in flight) was exceeded.
    public static let limitExceeded = RPCErrorCode(number: 1008, name: "LIMIT_EXCEEDED", retryable: true)
    /// The coordinator is shutting down; retry on the next coordinator.
    public static let shuttingDown = RPCErrorCode(number: 1009, name: "SHUTTING_DOWN", retryable: true)

    public static let all: [RPCErrorCode] = [
        .parseError, .invalidRequest, .methodNotFound, .invalidParams, .internalError,
        .leaseLost, .notFound, .invalidState, .forbidden, .databaseUnavailable, .automationDisabled,
        .validationFailed, .limitExceeded, .shuttingDown,
    ]
}

/// Errors that know their wire form.
public protocol RPCErrorConvertible: Error {
    var rpcError: RPCError { get }
}

extension RPCError: RPCErrorConvertible {
    public var rpcError: RPCError { self }
}
