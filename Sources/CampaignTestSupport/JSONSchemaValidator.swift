import CampaignProtocol
import Foundation

/// A small JSON Schema validator for tests: the subset `protocol/openrpc.json` uses.
///
/// Keywords: `type` (a name or an array of names, `integer` and `null` included), `properties`,
/// `required`, `additionalProperties` (`false` or a schema), `items`, `minItems`, `maxItems`,
/// `enum`, `const`, `minimum`, `maximum`, `minLength`, `maxLength`, `pattern`, `oneOf`,
/// `anyOf`, `allOf`, and `$ref` to a JSON pointer inside the root document
/// (`#/components/schemas/…`). Boolean schemas (`true`, `false`) work too. Other keywords
/// (`title`, `description`, `format`, …) are ignored. A keyword the validator cannot apply (a
/// `$ref` that resolves to nothing, a pattern that does not compile) is reported as a violation
/// rather than passed over.
///
/// Pure: no I/O. Returns human-readable violations, each starting with the JSON path of the
/// offending value (`$.jobs[0].status: …`); an empty list means the value is valid.
public struct JSONSchemaValidator: Sendable {
    /// The document `$ref`s point into.
    public let root: JSONValue

    public init(root: JSONValue = .object([:])) {
        self.root = root
    }

    /// The violations of `instance` against `schema` (empty: valid).
    public func validate(_ instance: JSONValue, against schema: JSONValue, path: String = "$") -> [String] {
        var out: [String] = []
        self.check(instance, schema, path, depth: 0, into: &out)
        return out
    }

    /// The schema a `$ref` such as `#/components/schemas/JobView` points to, if any.
    public func resolve(_ ref: String) -> JSONValue? {
        if ref == "#" { return self.root }
        guard ref.hasPrefix("#/") else { return nil }
        var node = self.root
        for raw in ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
            let token = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch node {
            case .object(let o):
                guard let next = o[token] else { return nil }
                node = next
            case .array(let a):
                guard let i = Int(token), a.indices.contains(i) else { return nil }
                node = a[i]
            default:
                return nil
            }
        }
        return node
    }

    // MARK: Keywords

    private func check(_ value: JSONValue, _ schema: JSONValue, _ path: String, depth: Int, into out: inout [String]) {
        guard depth < 64 else {
            out.append("\(path): schema nesting too deep (a $ref cycle?)")
            return
        }
        let s: [String: JSONValue]
        switch schema {
        case .bool(true): return
        case .bool(false):
            out.append("\(path): no value is allowed here")
            return
        case .object(let o): s = o
        default:
            out.append("\(path): the schema is not an object or a boolean")
            return
        }

        if let ref = s["$ref"] {
            if let r = ref.stringValue, let target = self.resolve(r) {
                self.check(value, target, path, depth: depth + 1, into: &out)
            } else {
                out.append("\(path): unresolvable $ref \(Self.show(ref))")
            }
        }

        if let type = s["type"] {
            let names: [String]
            switch type {
            case .string(let n): names = [n]
            case .array(let a): names = a.compactMap(\.stringValue)
            default: names = []
            }
            if !names.contains(where: { Self.hasType(value, $0) }) {
                let wanted = names.count == 1 ? names[0] : "one of " + names.joined(separator: ", ")
                out.append("\(path): expected \(wanted), found \(Self.typeName(value)) \(Self.show(value))")
                return  // the other keywords would only repeat the problem
            }
        }

        if let e = s["enum"], case .array(let allowed) = e, !allowed.contains(where: { Self.equal($0, value) }) {
            out.append("\(path): \(Self.show(value)) is not one of \(Self.show(e))")
        }
        if let c = s["const"], !Self.equal(c, value) {
            out.append("\(path): \(Self.show(value)) is not the constant \(Self.show(c))")
        }

        if let n = Self.number(value) {
            if let m = s["minimum"].flatMap(Self.number), n < m {
                out.append("\(path): \(Self.show(value)) is below the minimum \(Self.show(s["minimum"]!))")
            }
            if let m = s["maximum"].flatMap(Self.number), n > m {
                out.append("\(path): \(Self.show(value)) is above the maximum \(Self.show(s["maximum"]!))")
            }
        }

        if case .string(let text) = value {
            let length = text.unicodeScalars.count
            if let m = s["minLength"]?.intValue, length < m {
                out.append("\(path): \(Self.show(value)) is shorter than \(m) characters")
            }
            if let m = s["maxLength"]?.intValue, length > m {
                out.append("\(path): a string of \(length) characters is longer than \(m)")
            }
            if let p = s["pattern"]?.stringValue {
                if let re = try? NSRegularExpression(pattern: p) {
                    let range = NSRange(text.startIndex..<text.endIndex, in: text)
                    if re.firstMatch(in: text, range: range) == nil {
                        out.append("\(path): \(Self.show(value)) does not match the pattern \(p)")
                    }
                } else {
                    out.append("\(path): the pattern \(p) does not compile")
                }
            }
        }

        if case .array(let items) = value {
            if let m = s["minItems"]?.intValue, items.count < m {
                out.append("\(path): \(items.count) items, fewer than \(m)")
            }
            if let m = s["maxItems"]?.intValue, items.count > m {
                out.append("\(path): \(items.count) items, more than \(m)")
            }
            if let itemSchema = s["items"] {
                for (i, item) in items.enumerated() {
                    self.check(item, itemSchema, "\(path)[\(i)]", depth: depth + 1, into: &out)
                }
            }
        }

        if case .object(let members) = value {
            if case .array(let required)? = s["required"] {
                for name in required.compactMap(\.stringValue) where members[name] == nil {
                    out.append("\(path): required member \"\(name)\" is missing")
                }
            }
            var properties: [String: JSONValue] = [:]
            if case .object(let p)? = s["properties"] { properties = p }
            for name in members.keys.sorted() {
                let member = members[name]!
                let memberPath = Self.member(path, name)
                if let p = properties[name] {
                    self.check(member, p, memberPath, depth: depth + 1, into: &out)
                } else if let extra = s["additionalProperties"] {
                    if extra == .bool(false) {
                        out.append("\(path): member \"\(name)\" is not allowed")
                    } else {
                        self.check(member, extra, memberPath, depth: depth + 1, into: &out)
                    }
                }
            }
        }

        if case .array(let all)? = s["allOf"] {
            for sub in all { self.check(value, sub, path, depth: depth + 1, into: &out) }
        }
        if case .array(let any)? = s["anyOf"] {
            let results = any.map { self.validate(value, against: $0, depth: depth + 1, path: path) }
            if !results.contains(where: \.isEmpty) {
                out.append("\(path): matches none of the anyOf schemas (\(Self.summary(results)))")
            }
        }
        if case .array(let one)? = s["oneOf"] {
            let results = one.map { self.validate(value, against: $0, depth: depth + 1, path: path) }
            let matching = results.filter(\.isEmpty).count
            if matching == 0 {
                out.append("\(path): matches none of the oneOf schemas (\(Self.summary(results)))")
            } else if matching > 1 {
                out.append("\(path): matches \(matching) of the oneOf schemas, exactly one must match")
            }
        }
    }

    private func validate(_ value: JSONValue, against schema: JSONValue, depth: Int, path: String) -> [String] {
        var out: [String] = []
        self.check(value, schema, path, depth: depth, into: &out)
        return out
    }

    // MARK: Helpers

    static func hasType(_ value: JSONValue, _ name: String) -> Bool {
        switch (name, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object):
            return true
        case ("number", .int), ("number", .double), ("integer", .int):
            return true
        case ("integer", .double(let d)):
            return d.isFinite && d == d.rounded()
        default:
            return false
        }
    }

    static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// JSON equality: numbers compare by value (`1` equals `1.0`), objects regardless of order.
    public static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x == y
        case (.int, .double), (.double, .int), (.double, .double): return self.number(a) == self.number(b)
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { self.equal($0, $1) }
        case (.object(let x), .object(let y)):
            return x.count == y.count && x.allSatisfy { k, v in y[k].map { self.equal(v, $0) } ?? false }
        default: return a == b
        }
    }

    static func member(_ path: String, _ name: String) -> String {
        let plain = !name.isEmpty && name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
        }
        return plain ? "\(path).\(name)" : "\(path)[\(self.show(.string(name)))]"
    }

    /// Compact JSON text of a value, cut short when long.
    public static func show(_ value: JSONValue) -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let text = (try? e.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
        return text.count > 80 ? String(text.prefix(77)) + "..." : text
    }

    private static func summary(_ results: [[String]]) -> String {
        results.enumerated().map { i, r in "#\(i): " + (r.first ?? "ok") + (r.count > 1 ? " (+\(r.count - 1) more)" : "") }
            .joined(separator: "; ")
    }
}
