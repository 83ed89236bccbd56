import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import CampaignTestSupport
import Foundation
import Testing

/// The coordinator held to `protocol/openrpc.json`: the bytes on the wire, read with a raw line
/// client, are validated against the document's schemas.
@Suite("Conformance to protocol/openrpc.json")
struct ConformanceTests {
    // MARK: The document

    static let fileURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("protocol/openrpc.json")

    /// protocol/openrpc.json, parsed (the file, not the built-in copy: that one is compared to it).
    static let document: JSONValue = {
        guard let data = try? Data(contentsOf: fileURL),
            let doc = try? JSONDecoder().decode(JSONValue.self, from: data)
        else { return .null }
        return doc
    }()

    static let validator = JSONSchemaValidator(root: document)

    /// One documented param.
    struct Param {
        var name: String
        var required: Bool
        var schema: JSONValue
    }

    /// One example exchange: params by name, and the documented result or error.
    struct Example {
        var name: String
        var params: [String: JSONValue]
        var result: JSONValue?
        var error: JSONValue?
    }

    /// One documented method.
    struct Method {
        var name: String
        var params: [Param]
        var resultSchema: JSONValue
        /// The error codes documented for it (numbers).
        var errorCodes: Set<Int64>
        var examples: [Example]
        var errorExamples: [Example]
    }

    static func array(_ v: JSONValue?) -> [JSONValue] {
        if case .array(let a)? = v { return a }
        return []
    }

    static func examples(_ v: JSONValue?) -> [Example] {
        self.array(v).map { ex in
            var params: [String: JSONValue] = [:]
            for p in self.array(ex["params"]) {
                if let n = p["name"]?.stringValue { params[n] = p["value"] ?? .null }
            }
            return Example(
                name: ex["name"]?.stringValue ?? "?", params: params, result: ex["result"]?["value"], error: ex["error"])
        }
    }

    /// The methods in document order.
    static let methods: [Method] = array(document["methods"]).map { m in
        var codes = Set<Int64>()
        for e in array(m["errors"]) {
            let resolved = e["$ref"]?.stringValue.flatMap(validator.resolve) ?? e
            if let c = resolved["code"]?.intValue { codes.insert(c) }
        }
        return Method(
            name: m["name"]?.stringValue ?? "?",
            params: array(m["params"]).map {
                Param(name: $0["name"]?.stringValue ?? "?", required: $0["required"] == .bool(true), schema: $0["schema"] ?? .bool(true))
            },
            resultSchema: m["result"]?["schema"] ?? .bool(false),
            errorCodes: codes,
            examples: examples(m["examples"]),
            errorExamples: examples(m["x-error-examples"]))
    }

    static let errorSchema: JSONValue = ["$ref": "#/components/schemas/Error"]

    /// The params of `events.job`, as `events.subscribe` documents them.
    static let notificationSchema: JSONValue = {
        let m = array(document["methods"]).first { $0["name"] == "events.subscribe" }
        return m?["x-notification"]?["params"] ?? .bool(false)
    }()

    /// `components.errors`, by code number.
    static let errorTable: [Int64: JSONValue] = {
        guard case .object(let o)? = document["components"]?["errors"] else { return [:] }
        var out: [Int64: JSONValue] = [:]
        for e in o.values { if let c = e["code"]?.intValue { out[c] = e } }
        return out
    }()

    static func method(_ name: String) -> Method? { self.methods.first { $0.name == name } }

    // MARK: Checks

    /// Violations of a params object against a method's params.
    static func paramViolations(_ params: [String: JSONValue], _ m: Method) -> [String] {
        var out: [String] = []
        for p in m.params {
            if let v = params[p.name] {
                out += self.validator.validate(v, against: p.schema, path: "params.\(p.name)")
            } else if p.required {
                out.append("params: required param \(p.name) is missing")
            }
        }
        for name in params.keys.sorted() where !m.params.contains(where: { $0.name == name }) {
            out.append("params: \(name) is not a documented param")
        }
        return out
    }

    /// Violations of an error object: the documented shape, a code in the table whose name and
    /// retryability match `data`, and (when `method` is given) a code documented for the method.
    static func errorViolations(_ error: JSONValue, method: Method?) -> [String] {
        var out = self.validator.validate(error, against: self.errorSchema, path: "error")
        guard let code = error["code"]?.intValue else { return out + ["error.code: missing"] }
        if let entry = self.errorTable[code] {
            if error["data"]?["code"] != entry["data"]?["code"] {
                out.append("error.data.code: \(Self.show(error["data"]?["code"])) is not \(Self.show(entry["data"]?["code"])), the name of \(code)")
            }
            if error["data"]?["retryable"] != entry["data"]?["retryable"] {
                out.append("error.data.retryable differs from components.errors for \(code)")
            }
        } else {
            out.append("error.code: \(code) is not in components.errors")
        }
        if let method, !method.errorCodes.contains(code) {
            out.append("error.code: \(code) (\(error["data"]?["code"]?.stringValue ?? "?")) is not documented for \(method.name), which lists \(method.errorCodes.sorted())")
        }
        return out
    }

    /// Values that differ from run to run: compared for presence only.
    static let volatileKeys: Set<String> = [
        "uptimeSeconds", "version", "coordinatorVersion", "leaseToken", "date", "leaseOwner",
        "pid", "uid", "gid", "connectionId", "unit", "updatedBy", "addedBy", "by", "exposition",
    ]

    static func isTimestamp(_ v: JSONValue) -> Bool {
        self.validator.validate(v, against: ["$ref": "#/components/schemas/Timestamp"]).isEmpty
    }

    /// Compact JSON text of a value that may be missing.
    static func show(_ v: JSONValue?) -> String {
        v.map(JSONSchemaValidator.show) ?? "nothing"
    }

    /// Where `live` differs from `documented`: the same members everywhere, the same values
    /// except volatile ones (times, tokens, versions) unless `strict`.
    static func differences(
        _ live: JSONValue, _ documented: JSONValue, path: String = "result", strict: Bool = false
    ) -> [String] {
        switch (live, documented) {
        case (.object(let l), .object(let d)):
            var out: [String] = []
            for k in Set(l.keys).union(d.keys).sorted() {
                let p = "\(path).\(k)"
                switch (l[k], d[k]) {
                case (let lv?, let dv?):
                    if !strict && (self.volatileKeys.contains(k) || (self.isTimestamp(lv) && self.isTimestamp(dv))) {
                        continue
                    }
                    out += self.differences(lv, dv, path: p, strict: strict)
                case (_?, nil): out.append("\(p): sent but not in the example")
                case (nil, _?): out.append("\(p): in the example but not sent")
                case (nil, nil): break
                }
            }
            return out
        case (.array(let l), .array(let d)):
            guard l.count == d.count else { return ["\(path): \(l.count) items sent, \(d.count) in the example"] }
            return zip(l, d).enumerated().flatMap { i, pair in
                self.differences(pair.0, pair.1, path: "\(path)[\(i)]", strict: strict)
            }
        default:
            return JSONSchemaValidator.equal(live, documented)
                ? [] : ["\(path): sent \(JSONSchemaValidator.show(live)), the example says \(JSONSchemaValidator.show(documented))"]
        }
    }

    static func line(id: Int, method: String, params: JSONValue?) throws -> String {
        var request: [String: JSONValue] = ["jsonrpc": "2.0", "id": .int(Int64(id)), "method": .string(method)]
        if let params { request["params"] = params }
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try e.encode(JSONValue.object(request)), as: UTF8.self) + "\n"
    }

    static func parse(_ line: String?) throws -> JSONValue {
        let text = try #require(line, "the connection closed without an answer")
        return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    /// Violations of a response envelope: `jsonrpc`, the echoed id, and exactly one of result
    /// and error.
    static func envelopeViolations(_ response: JSONValue, id: Int) -> [String] {
        var out: [String] = []
        guard case .object(let o) = response else { return ["response: not an object"] }
        if o["jsonrpc"] != "2.0" { out.append("response.jsonrpc: not \"2.0\"") }
        if o["id"] != .int(Int64(id)) { out.append("response.id: \(Self.show(o["id"])) is not the request's \(id)") }
        let extra = Set(o.keys).subtracting(["jsonrpc", "id", "result", "error"])
        if !extra.isEmpty { out.append("response: unexpected members \(extra.sorted())") }
        if (o["result"] == nil) == (o["error"] == nil) { out.append("response: needs exactly one of result and error") }
        return out
    }

    // MARK: The document itself

    @Test("the examples agree with their own schemas")
    func examplesMatchTheirSchemas() throws {
        #expect(Self.document != .null, "protocol/openrpc.json is missing or not JSON")
        #expect(Self.methods.count == ProtocolMethods.all.count)
        for m in Self.methods {
            #expect(!m.examples.isEmpty, "\(m.name): no example")
            for ex in m.examples {
                let v = Self.paramViolations(ex.params, m)
                #expect(v.isEmpty, "\(m.name) example \(ex.name): \(v)")
                let result = try #require(ex.result, "\(m.name) example \(ex.name): no result")
                let r = Self.validator.validate(result, against: m.resultSchema, path: "result")
                #expect(r.isEmpty, "\(m.name) example \(ex.name): \(r)")
            }
            for ex in m.errorExamples {
                let error = try #require(ex.error, "\(m.name) error example \(ex.name): no error")
                let e = Self.errorViolations(error, method: m)
                #expect(e.isEmpty, "\(m.name) error example \(ex.name): \(e)")
            }
        }
    }

    // MARK: Against a live coordinator

    /// Every example, in document order on one connection, against a freshly migrated database
    /// with the default settings: each answer validates against its schema and says what the
    /// example says (times, tokens and versions aside).
    @Test("every example of the document succeeds against a live coordinator")
    func examplesAgainstALiveCoordinator() async throws {
        try await CoordinatorHarness.run("openrpcexamples", settings: AutomationSettings()) { h in
            try await RawLineClient.with(socketPath: h.socketPath) { send, receiveLine in
                var notifications = 0
                /// The next answer; notifications on the way (after `events.subscribe`) are held to
                /// the documented `events.job` params and set aside.
                func receive() async throws -> String? {
                    while let line = try await receiveLine() {
                        let value = try Self.parse(line)
                        guard value["id"] == nil, let method = value["method"]?.stringValue else { return line }
                        #expect(method == "events.job", "an unknown notification: \(line)")
                        let v = Self.validator.validate(value["params"] ?? .null, against: Self.notificationSchema, path: "params")
                        #expect(v.isEmpty, "events.job: \(v)")
                        notifications += 1
                    }
                    return nil
                }
                var id = 0
                var exchanges = 0
                for m in Self.methods {
                    for ex in m.examples {
                        id += 1
                        let label = "\(m.name) example \(ex.name)"
                        try await send(try Self.line(id: id, method: m.name, params: .object(ex.params)))
                        let response = try Self.parse(try await receive())
                        let envelope = Self.envelopeViolations(response, id: id)
                        #expect(envelope.isEmpty, "\(label): \(envelope)")
                        guard let result = response["result"] else {
                            Issue.record("\(label): answered with an error: \(Self.show(response["error"]))")
                            continue
                        }
                        let v = Self.validator.validate(result, against: m.resultSchema, path: "result")
                        #expect(v.isEmpty, "\(label): the result does not match the schema: \(v)")
                        if m.name != RPCDiscover.name, let documented = ex.result {  // that example is abridged
                            let d = Self.differences(result, documented)
                            #expect(d.isEmpty, "\(label): the answer differs from the example: \(d)")
                        }
                        exchanges += 1
                        if m.name == LeaseJobs.name, let documented = ex.result {
                            try Self.adoptDocumentedTokens(documented, h)
                        }
                    }
                    for ex in m.errorExamples {
                        id += 1
                        let label = "\(m.name) error example \(ex.name)"
                        try await send(try Self.line(id: id, method: m.name, params: .object(ex.params)))
                        let response = try Self.parse(try await receive())
                        let envelope = Self.envelopeViolations(response, id: id)
                        #expect(envelope.isEmpty, "\(label): \(envelope)")
                        guard let error = response["error"] else {
                            Issue.record("\(label): succeeded: \(Self.show(response["result"]))")
                            continue
                        }
                        let v = Self.errorViolations(error, method: m)
                        #expect(v.isEmpty, "\(label): \(v)")
                        if let documented = ex.error {
                            let d = Self.differences(error, documented, path: "error")
                            #expect(d.isEmpty, "\(label): the error differs from the example: \(d)")
                        }
                        exchanges += 1
                    }
                }
                #expect(exchanges >= Self.methods.count)
                print("conformance: \(exchanges) documented exchanges checked over the socket, \(notifications) notifications")
            }
        }
    }

    /// `jobs.lease` with `dial: true` over the socket: the answer validates against the documented
    /// result schema, with a DIALING job's idempotency key and a rule's refusal.
    @Test("jobs.lease with dial answers as documented")
    func leaseWithDialMatchesTheSchema() async throws {
        try await CoordinatorHarness.run("openrpcdial") { h in
            let ids = try await TestFactory.jobs(h.store, count: 2)
            _ = try h.db.connect().query(unsafeSQL: 
                "UPDATE campaign.customers SET status = 'DO_NOT_CALL' WHERE id = (SELECT customer_id FROM campaign.campaign_jobs WHERE id = $1)",
                [String(ids[1])])
            try await RawLineClient.with(socketPath: h.socketPath) { send, receive in
                try await send(try Self.line(
                    id: 1, method: AgentHello.name,
                    params: ["agentId": "dialer", "capacity": 2, "version": "t"]))
                _ = try await receive()
                try await send(try Self.line(id: 2, method: LeaseJobs.name, params: ["max": 2, "dial": true]))
                let response = try Self.parse(try await receive())
                let m = try #require(Self.method(LeaseJobs.name))
                #expect(Self.paramViolations(["max": 2, "dial": true], m).isEmpty)
                let result = try #require(response["result"], "\(Self.show(response["error"]))")
                let v = Self.validator.validate(result, against: m.resultSchema, path: "result")
                #expect(v.isEmpty, "\(v)")
                #expect(Self.array(result["jobs"]).count == 1)
                #expect(Self.array(result["jobs"]).first?["idempotencyKey"] == .string("cust-job-0#1"))
                #expect(Self.array(result["refused"]).first?["rule"] == .string("not_active"))
            }
        }
    }

    @Test("jobs.dialing that defers the job answers as documented")
    func deferredDialingMatchesTheSchema() async throws {
        try await CoordinatorHarness.run("openrpcdefer") { h in
            _ = try await TestFactory.jobs(h.store, count: 1)
            // One minute a week, three days from today, at noon (inside the law's hours): outside it everywhere now.
            let day = (LocalTime(Date(), TimeZone(identifier: "UTC")!).isoWeekday + 2) % 7 + 1
            try await RawLineClient.with(socketPath: h.socketPath) { send, receive in
                try await send(try Self.line(
                    id: 1, method: SetAutomation.name,
                    params: ["workingDays": .array([.int(Int64(day))]), "workingHoursStart": "12:00", "workingHoursEnd": "12:01"]))
                #expect(try Self.parse(try await receive())["result"] != nil)
                try await send(try Self.line(
                    id: 2, method: AgentHello.name, params: ["agentId": "deferred", "capacity": 1, "version": "t"]))
                _ = try await receive()
                try await send(try Self.line(id: 3, method: LeaseJobs.name, params: ["max": 1]))
                let leased = try #require(Self.array(try Self.parse(try await receive())["result"]?["jobs"]).first)
                try await send(try Self.line(
                    id: 4, method: DialingJob.name, params: ["jobId": leased["jobId"]!, "leaseToken": leased["leaseToken"]!]))
                let response = try Self.parse(try await receive())
                let m = try #require(Self.method(DialingJob.name))
                let result = try #require(response["result"], "\(Self.show(response["error"]))")
                let v = Self.validator.validate(result, against: m.resultSchema, path: "result")
                #expect(v.isEmpty, "\(v)")
                #expect(result["allowed"] == false && result["rule"] == "outside_working_hours" && result["status"] == "QUEUED")
                #expect(result["runAt"]?.stringValue.map(Self.isTimestampText) == true, "\(Self.show(result))")
            }
        }
    }

    static func isTimestampText(_ s: String) -> Bool { Self.isTimestamp(.string(s)) }

    /// Lease tokens are random: give the leased jobs the tokens the `jobs.lease` example shows, so
    /// the later examples (which quote them) hold.
    static func adoptDocumentedTokens(_ documented: JSONValue, _ h: CoordinatorHarness) throws {
        let conn = try h.db.connect()
        for job in Self.array(documented["jobs"]) {
            guard let jobId = job["jobId"]?.intValue, let token = job["leaseToken"]?.stringValue else { continue }
            let rows = try conn.query(unsafeSQL: 
                "UPDATE campaign.campaign_jobs SET lease_token = $2::uuid WHERE id = $1::bigint AND status = 'ACTIVE' RETURNING id",
                [String(jobId), token])
            #expect(rows.count == 1, "job \(jobId) of the jobs.lease example was not leased")
        }
    }

    @Test("the router serves exactly the documented methods")
    func servedMethodsAreDocumented() async throws {
        try await CoordinatorHarness.run("openrpcmethods") { h in
            let served = Set(h.coordinator.makeRouter().methods)
            let documented = Set(Self.methods.map(\.name))
            #expect(!served.isEmpty)
            #expect(
                served.subtracting(documented).isEmpty,
                "served but not documented in protocol/openrpc.json: \(served.subtracting(documented).sorted())")
            #expect(
                documented.subtracting(served).isEmpty,
                "documented in protocol/openrpc.json but not served: \(documented.subtracting(served).sorted())")
        }
    }

    @Test("rpc.discover over the socket answers protocol/openrpc.json")
    func discoverServesTheFile() async throws {
        try await CoordinatorHarness.run("openrpcdiscover") { h in
            try await RawLineClient.with(socketPath: h.socketPath) { send, receive in
                try await send(#"{"jsonrpc":"2.0","id":"d","method":"rpc.discover"}"# + "\n")
                let response = try Self.parse(try await receive())
                #expect(response["id"] == "d" && response["error"] == nil)
                let result = try #require(response["result"])
                #expect(Self.document != .null)
                let d = Self.differences(result, Self.document, path: "document", strict: true)
                #expect(
                    d.isEmpty,
                    "rpc.discover does not answer protocol/openrpc.json: \(d.prefix(5)) (\(d.count) in all)")
                // The same with params `[]`, as NoParams allows.
                try await send(#"{"jsonrpc":"2.0","id":2,"method":"rpc.discover","params":[]}"# + "\n")
                #expect(try Self.parse(try await receive())["result"] == result)
            }
        }
    }

    // MARK: Wrong calls

    /// A value of a type `schema` does not allow (nil: it allows every candidate).
    static func wrongValue(for schema: JSONValue) -> JSONValue? {
        let candidates: [JSONValue] = [.string("wrong"), .int(12345), .bool(true), .object(["wrong": 1]), .array(["wrong"])]
        return candidates.first { !Self.validator.validate($0, against: schema).isEmpty }
    }

    /// For every method with params: each required param left out, each param of a wrong type,
    /// and the params given by position. Each answer is an error of the documented shape with a
    /// code documented for the method.
    @Test("wrong calls get documented errors of the documented shape")
    func wrongCallsGetDocumentedErrors() async throws {
        try await CoordinatorHarness.run("openrpcwrong") { h in
            try await RawLineClient.with(socketPath: h.socketPath) { send, receive in
                var id = 1000
                var checked = 0
                func expectDocumentedError(_ method: Method, _ params: JSONValue, _ what: String) async throws {
                    id += 1
                    try await send(try Self.line(id: id, method: method.name, params: params))
                    let response = try Self.parse(try await receive())
                    let envelope = Self.envelopeViolations(response, id: id)
                    #expect(envelope.isEmpty, "\(method.name) \(what): \(envelope)")
                    guard let error = response["error"] else {
                        Issue.record("\(method.name) \(what): accepted, answered \(Self.show(response["result"]))")
                        return
                    }
                    let v = Self.errorViolations(error, method: method)
                    #expect(v.isEmpty, "\(method.name) \(what): \(v)")
                    checked += 1
                }
                for m in Self.methods where !m.params.isEmpty {
                    let base = m.examples.first?.params ?? [:]
                    for p in m.params where p.required {
                        var params = base
                        params[p.name] = nil
                        try await expectDocumentedError(m, .object(params), "without \(p.name)")
                    }
                    for p in m.params {
                        guard let wrong = Self.wrongValue(for: p.schema) else { continue }
                        var params = base
                        params[p.name] = wrong
                        try await expectDocumentedError(m, .object(params), "with \(p.name) = \(JSONSchemaValidator.show(wrong))")
                    }
                    if m.params.contains(where: \.required) {
                        let positional = m.params.compactMap { base[$0.name] }
                        try await expectDocumentedError(m, .array(positional), "with params by position")
                    }
                }
                #expect(checked > 40)

                // Errors about the request itself have the documented shape too.
                let raw: [(String, Int64)] = [
                    ("{not json\n", -32700),
                    (#"{"jsonrpc":"1.0","id":1,"method":"health"}"# + "\n", -32600),
                    (#"{"jsonrpc":"2.0","id":2,"method":"no.such.method"}"# + "\n", -32601),
                    (#"{"jsonrpc":"2.0","id":3,"method":"health","params":"x"}"# + "\n", -32600),
                    ("[]\n", -32600),
                ]
                for (text, code) in raw {
                    try await send(text)
                    let response = try Self.parse(try await receive())
                    let error = try #require(response["error"], "\(text): no error")
                    #expect(error["code"]?.intValue == code, "\(text)")
                    let v = Self.errorViolations(error, method: nil)
                    #expect(v.isEmpty, "\(text): \(v)")
                }
            }
        }
    }
}
