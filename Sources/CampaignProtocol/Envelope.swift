/// The JSON-RPC 2.0 version marker, checked on decode.
public struct JSONRPCVersion: Codable, Sendable, Hashable {
    public init() {}
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        guard try c.decode(String.self) == "2.0" else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "jsonrpc must be \"2.0\"")
        }
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode("2.0")
    }
}

/// A request as a client sends it.
public struct RPCRequest<Params: Encodable & Sendable>: Encodable, Sendable {
    public var jsonrpc = JSONRPCVersion()
    public var id: JSONValue?
    public var method: String
    public var params: Params

    public init(id: JSONValue?, method: String, params: Params) {
        self.id = id
        self.method = method
        self.params = params
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.jsonrpc, forKey: .jsonrpc)
        if let id = self.id { try c.encode(id, forKey: .id) }  // absent id = notification
        try c.encode(self.method, forKey: .method)
        try c.encode(self.params, forKey: .params)
    }

    enum CodingKeys: String, CodingKey { case jsonrpc, id, method, params }
}

/// A successful response as the server writes it.
public struct RPCSuccess<Result: Encodable>: Encodable {
    public var jsonrpc = JSONRPCVersion()
    public var id: JSONValue
    public var result: Result

    public init(id: JSONValue, result: Result) {
        self.id = id
        self.result = result
    }
}

/// An error response as the server writes it.
public struct RPCFailure: Codable, Sendable {
    public var jsonrpc = JSONRPCVersion()
    public var id: JSONValue
    public var error: RPCError

    public init(id: JSONValue, error: RPCError) {
        self.id = id
        self.error = error
    }

    enum CodingKeys: String, CodingKey { case jsonrpc, id, error }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.jsonrpc, forKey: .jsonrpc)
        try c.encode(self.id, forKey: .id)  // `null` when the id could not be read
        try c.encode(self.error, forKey: .error)
    }
}

/// A response as a client reads it: either `result` or `error`.
public struct RPCResponse<Result: Decodable & Sendable>: Decodable, Sendable {
    public var id: JSONValue?
    public var result: Result?
    public var error: RPCError?
}

/// Just the id of a response, to route it to its caller.
public struct RPCResponseID: Decodable, Sendable {
    public var id: JSONValue?
}
