/// One method of the protocol: its name and its params and result types.
///
/// The server dispatches on `name`; clients call `client.call(M.self, params)`, so the agent and
/// `campaign-ctl` cannot drift from the server.
public protocol RPCMethod: Sendable {
    associatedtype Params: Codable & Sendable
    associatedtype Result: Codable & Sendable
    static var name: String { get }
    /// The least role allowed to call the method (DESIGN §6). Methods that say nothing need `admin`.
    static var requiredRole: AccessRole { get }
}

extension RPCMethod {
    public static var requiredRole: AccessRole { .admin }
}

/// Who may call what (DESIGN §6). Each role may do what the roles below it may.
public enum AccessRole: String, Sendable, Codable, CaseIterable, Comparable {
    /// Reads: health, lists, gets, the document.
    case reader
    /// Reads, and the agent's side of the job lifecycle.
    case agent
    /// Everything.
    case admin

    public static func < (a: AccessRole, b: AccessRole) -> Bool {
        Self.allCases.firstIndex(of: a)! < Self.allCases.firstIndex(of: b)!
    }
}

/// Params of methods that take none. Accepts `{}`, `[]`, or absent params.
public struct NoParams: Codable, Sendable, Equatable {
    public init() {}
    public init(from decoder: any Decoder) throws {}
    public func encode(to encoder: any Encoder) throws {
        _ = encoder.container(keyedBy: EmptyKeys.self)
    }
    enum EmptyKeys: CodingKey {}
}
