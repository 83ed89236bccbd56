/// One method of the protocol: its name and its params and result types.
///
/// The server dispatches on `name`; clients call `client.call(M.self, params)`, so the agent and
/// `campaign-ctl` cannot drift from the server.
public protocol RPCMethod: Sendable {
    associatedtype Params: Codable & Sendable
    associatedtype Result: Codable & Sendable
    static var name: String { get }
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
