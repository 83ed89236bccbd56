import CampaignProtocol
import Foundation

/// The JSON encoders and decoders of the transport, and a few helpers.
public enum JSONCoding {
    public static let decoder = JSONDecoder()
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }()

    /// Decodes the `params` member of a request line as `P` (absent or `[]`: as `{}`).
    static func decodeParams<P: Decodable>(_ type: P.Type, fromLine data: Data, tree: JSONValue? = nil) throws -> P {
        if let readable = P.self as? any JSONReadable.Type {
            // The hot path's params (`jobs.report`): fields read by hand from the line's tree.
            let line = try tree ?? JSONValue(jsonUTF8: data)
            var params = line["params"] ?? .object([:])
            if case .array(let a) = params, a.isEmpty { params = .object([:]) }  // `[]` = no params
            return try readable.init(json: params) as! P
        }
        return try self.decoder.decode(ParamsOf<P>.self, from: data).params
    }

    static func decodeParams<P: Decodable>(_ type: P.Type, from params: JSONValue?) throws -> P {
        var value = params ?? .object([:])
        if case .array(let a) = value, a.isEmpty { value = .object([:]) }  // `[]` = no params
        let data = try self.encoder.encode(value)
        return try self.decoder.decode(P.self, from: data)
    }

    /// The id of an answer to what has no (readable) id.
    static let nullID: [UInt8] = Array("null".utf8)

    /// `{"jsonrpc":"2.0","id":<id>,"result":<result>}`, the id as the request's own bytes.
    static func success(id: [UInt8], result: any Encodable & Sendable) throws -> [UInt8] {
        // The hot path's answers (leases, reports) are written by hand; the rest by JSONEncoder.
        if let hot = result as? any JSONWritable { return Self.envelope(id: id, member: #","result":"#, value: hot.jsonBytes) }
        return Self.envelope(id: id, member: #","result":"#, value: try self.encoder.encode(AnyEncodable(result)))
    }

    /// `{"jsonrpc":"2.0","id":<id>,"error":<error>}`, the id as the request's own bytes.
    static func failure(id: [UInt8], _ error: RPCError) -> [UInt8] {
        // An RPCError holds only strings, numbers and JSONValues: encoding cannot fail.
        Self.envelope(id: id, member: #","error":"#, value: error.jsonBytes)
    }

    private static func envelope(id: [UInt8], member: String, value: some Collection<UInt8>) -> [UInt8] {
        let head = #"{"jsonrpc":"2.0","id":"#
        var out: [UInt8] = []
        out.reserveCapacity(head.utf8.count + id.count + member.utf8.count + value.count + 1)
        out.append(contentsOf: head.utf8)
        out.append(contentsOf: id)
        out.append(contentsOf: member.utf8)
        out.append(contentsOf: value)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A short, safe description of a decoding error (the field path and the problem).
    public static func describe(_ error: any Error) -> String {
        if let shape = error as? JSONShapeError {
            let path = shape.path.hasPrefix(".") ? String(shape.path.dropFirst()) : shape.path
            return "\(path.isEmpty ? "params" : path): \(shape.problem)"
        }
        guard let e = error as? DecodingError else { return "\(error)" }
        func path(_ p: [any CodingKey]) -> String {
            // Params read from the request line carry the `params` key first: name fields from inside.
            let p = p.first?.stringValue == "params" && p.first?.intValue == nil ? Array(p.dropFirst()) : p
            return p.isEmpty ? "params" : p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch e {
        case .typeMismatch(let t, let c): return "\(path(c.codingPath)): expected \(t)"
        case .valueNotFound(let t, let c): return "\(path(c.codingPath)): expected \(t), found null"
        case .keyNotFound(let k, let c): return "\(path(c.codingPath + [k])): required"
        case .dataCorrupted(let c): return "\(path(c.codingPath)): \(c.debugDescription)"
        @unknown default: return "\(error)"
        }
    }
}

struct AnyEncodable: Encodable {
    let value: any Encodable
    init(_ value: any Encodable) { self.value = value }
    func encode(to encoder: any Encoder) throws { try self.value.encode(to: encoder) }
}

/// The envelope of a request, read without building its params or its id.
struct RequestHead: Decodable {
    enum ParamsKind: Equatable { case absent, object, emptyArray, array, other }

    /// The head of a request from its parsed tree; nil when the line is not an object.
    init?(_ tree: JSONValue) {
        guard case .object(let o) = tree else { return nil }
        // Present but not a string: as the Decodable reading, which fails and words the error later.
        switch o["jsonrpc"] {
        case nil, .null?: self.jsonrpc = nil
        case .string(let v)?: self.jsonrpc = v
        default: return nil
        }
        switch o["method"] {
        case nil, .null?: self.method = nil
        case .string(let v)?: self.method = v
        default: return nil
        }
        switch o["params"] {
        case nil: self.params = .absent
        case .object?: self.params = .object
        case .array(let a)?: self.params = a.isEmpty ? .emptyArray : .array
        default: self.params = .other
        }
    }

    var jsonrpc: String?
    var method: String?
    var params: ParamsKind

    // The id is not read here: ``RequestScanner`` found its bytes, which are echoed as they are.
    enum CodingKeys: String, CodingKey { case jsonrpc, method, params }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.jsonrpc = try c.decodeIfPresent(String.self, forKey: .jsonrpc)
        self.method = try c.decodeIfPresent(String.self, forKey: .method)
        if !c.contains(.params) {
            self.params = .absent
        } else {
            self.params = try c.decode(ParamsProbe.self, forKey: .params).kind
        }
    }
}

/// Looks at what `params` is without decoding its contents.
struct ParamsProbe: Decodable {
    var kind: RequestHead.ParamsKind

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if (try? decoder.container(keyedBy: AnyKey.self)) != nil {
            self.kind = .object
        } else if var a = try? decoder.unkeyedContainer() {
            self.kind = a.isAtEnd ? .emptyArray : .array
            _ = try? a.decodeNil()
        } else {
            self.kind = .other
        }
    }
}

/// The `params` member of a request line as `P`; absent or `[]` decode as `{}`.
struct ParamsOf<P: Decodable>: Decodable {
    var params: P

    enum CodingKeys: String, CodingKey { case params }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.contains(.params), (try? c.decode(ParamsProbe.self, forKey: .params).kind) != .emptyArray {
            self.params = try c.decode(P.self, forKey: .params)
        } else {
            self.params = try JSONCoding.decoder.decode(P.self, from: Data("{}".utf8))
        }
    }
}
