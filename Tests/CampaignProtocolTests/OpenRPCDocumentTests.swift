import CampaignProtocol
import Foundation
import Testing

/// `protocol/openrpc.json` and the copy built into the coordinator (`OpenRPCDocument.text`).
@Suite("OpenRPC document")
struct OpenRPCDocumentTests {
    /// The repository's `protocol/openrpc.json`, found from this file's path.
    static let fileURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("protocol/openrpc.json")

    static func fileText() throws -> String {
        try String(contentsOf: self.fileURL, encoding: .utf8)
    }

    static var document: JSONValue { RPCDiscover.document }

    static var methods: [JSONValue] {
        if case .array(let m)? = self.document["methods"] { return m }
        return []
    }

    @Test("the built-in text is protocol/openrpc.json, byte for byte")
    func embeddedTextIsTheFile() throws {
        let file = try Self.fileText()
        #expect(
            OpenRPCDocument.text == file,
            "the text embedded by the EmbedOpenRPC plugin is not protocol/openrpc.json")
    }

    @Test("the document parses, is OpenRPC 1.3 and has this product's version")
    func parses() throws {
        let fromFile = try JSONDecoder().decode(JSONValue.self, from: Data(try Self.fileText().utf8))
        #expect(Self.document == fromFile)
        #expect(Self.document["openrpc"]?.stringValue?.hasPrefix("1.3.") == true)
        #expect(Self.document["info"]?["version"]?.stringValue == CampaignVersion.current)
    }

    @Test("it documents exactly the methods of ProtocolMethods.all")
    func methodsMatch() {
        let documented = Set(Self.methods.compactMap { $0["name"]?.stringValue })
        let declared = Set(ProtocolMethods.all)
        #expect(documented.count == Self.methods.count, "a method is documented twice")
        #expect(declared.subtracting(documented).isEmpty, "not documented: \(declared.subtracting(documented).sorted())")
        #expect(documented.subtracting(declared).isEmpty, "documented but not in ProtocolMethods.all: \(documented.subtracting(declared).sorted())")
    }

    @Test("components.errors is the RPCErrorCode table")
    func errorTable() {
        guard case .object(let errors)? = Self.document["components"]?["errors"] else {
            Issue.record("components.errors is missing")
            return
        }
        #expect(Set(errors.keys) == Set(RPCErrorCode.all.map(\.name)))
        for code in RPCErrorCode.all {
            let e = errors[code.name]
            #expect(e?["code"]?.intValue == Int64(code.number), "\(code.name)")
            #expect(e?["data"]?["code"]?.stringValue == code.name, "\(code.name)")
            #expect(e?["data"]?["retryable"] == .bool(code.retryable), "\(code.name)")
        }
    }

    @Test("every method has a summary, roles, by-name params, a result, errors and an example")
    func methodShape() {
        let roles: Set<String> = ["admin", "agent", "reader"]
        for m in Self.methods {
            let name = m["name"]?.stringValue ?? "?"
            #expect(m["summary"]?.stringValue?.isEmpty == false, "\(name): summary")
            #expect(m["paramStructure"] == "by-name", "\(name): paramStructure")
            guard case .array(let r)? = m["x-roles"] else {
                Issue.record("\(name): x-roles missing")
                continue
            }
            let given = Set(r.compactMap(\.stringValue))
            #expect(given.contains("admin") && given.isSubset(of: roles) && given.count == r.count, "\(name): x-roles \(r)")
            // The roles the server enforces: the method's least role and every role above it.
            if let least = ProtocolMethods.roles[name] {
                let enforced = Set(AccessRole.allCases.filter { $0 >= least }.map(\.rawValue))
                #expect(given == enforced, "\(name): documented x-roles \(given.sorted()), enforced \(enforced.sorted())")
            }
            #expect(m["result"]?["schema"] != nil, "\(name): result schema")
            guard case .array(let errors)? = m["errors"], !errors.isEmpty else {
                Issue.record("\(name): errors missing")
                continue
            }
            guard case .array(let examples)? = m["examples"], !examples.isEmpty else {
                Issue.record("\(name): no example")
                continue
            }
            for ex in examples { #expect(ex["result"] != nil, "\(name): example \(ex["name"]?.stringValue ?? "?") has no result") }
        }
    }

    /// The members each OpenRPC 1.3 object may have (`x-…` extensions aside where the
    /// specification allows them), after the OpenRPC meta-schema.
    @Test("the document keeps to the OpenRPC object shapes")
    func openRPCObjectShapes() {
        func members(_ v: JSONValue?, _ what: String, allowed: Set<String>, required: Set<String>, extensions: Bool = true) {
            guard case .object(let o)? = v else {
                Issue.record("\(what): not an object")
                return
            }
            let keys = Set(o.keys)
            let unknown = keys.filter { !allowed.contains($0) && !(extensions && $0.hasPrefix("x-")) }
            #expect(unknown.isEmpty, "\(what): members not allowed by OpenRPC: \(unknown.sorted())")
            #expect(required.isSubset(of: keys), "\(what): missing \(required.subtracting(keys).sorted())")
        }
        let doc = Self.document
        members(doc, "document", allowed: ["openrpc", "info", "servers", "methods", "components", "externalDocs"], required: ["openrpc", "info", "methods"])
        members(doc["info"], "info", allowed: ["title", "description", "termsOfService", "version", "contact", "license"], required: ["title", "version"])
        for s in Self.array(doc["servers"]) {
            members(s, "server", allowed: ["url", "name", "description", "summary", "variables"], required: ["url"])
        }
        let descriptor: Set<String> = ["name", "description", "summary", "schema", "required", "deprecated"]
        let errorObject: Set<String> = ["code", "message", "data"]
        for m in Self.methods {
            let name = m["name"]?.stringValue ?? "?"
            members(
                m, name,
                allowed: ["name", "description", "summary", "tags", "paramStructure", "params", "result", "errors", "links", "examples", "deprecated", "servers", "externalDocs"],
                required: ["name", "params", "result"])
            for p in Self.array(m["params"]) { members(p, "\(name) param", allowed: descriptor, required: ["name", "schema"]) }
            members(m["result"], "\(name) result", allowed: descriptor, required: ["name", "schema"])
            for e in Self.array(m["errors"]) where e["$ref"] == nil {
                members(e, "\(name) error", allowed: errorObject, required: ["code", "message"], extensions: false)
            }
            for ex in Self.array(m["examples"]) {
                members(ex, "\(name) example", allowed: ["name", "summary", "description", "params", "result"], required: ["name", "params", "result"])
                for p in Self.array(ex["params"]) + [ex["result"] ?? .null] {
                    members(p, "\(name) example value", allowed: ["name", "summary", "description", "value"], required: ["name", "value"])
                }
            }
        }
        if case .object(let errors)? = doc["components"]?["errors"] {
            for (k, e) in errors { members(e, "components.errors.\(k)", allowed: errorObject, required: ["code", "message"], extensions: false) }
        }
    }

    static func array(_ v: JSONValue?) -> [JSONValue] {
        if case .array(let a)? = v { return a }
        return []
    }

    @Test("every $ref in the document resolves")
    func refsResolve() {
        var refs: [String] = []
        func walk(_ v: JSONValue) {
            switch v {
            case .object(let o):
                if let r = o["$ref"]?.stringValue { refs.append(r) }
                o.values.forEach(walk)
            case .array(let a): a.forEach(walk)
            default: break
            }
        }
        walk(Self.document)
        #expect(refs.count > 50)
        for r in Set(refs) {
            let parts = r.split(separator: "/").map(String.init)
            var node: JSONValue? = Self.document
            #expect(parts.first == "#", "\(r)")
            for p in parts.dropFirst() { node = node?[p] }
            #expect(node != nil, "unresolved $ref \(r)")
        }
    }
}
