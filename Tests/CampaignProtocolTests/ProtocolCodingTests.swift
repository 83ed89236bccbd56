import CampaignCore
import CampaignProtocol
import Foundation
import Testing

private func encode<T: Encodable>(_ value: T) throws -> String {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try e.encode(value), as: UTF8.self)
}

private func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(text.utf8))
}

/// Parses JSON text into a JSONValue, to compare documents regardless of key order.
private func json(_ text: String) throws -> JSONValue {
    try decode(JSONValue.self, text)
}

private func roundTrip<T: Codable & Equatable>(_ value: T) throws -> T {
    try decode(T.self, try encode(value))
}

@Suite("JSONValue")
struct JSONValueTests {
    @Test(
        "decodes each JSON form to the right case",
        arguments: [
            ("null", JSONValue.null),
            ("true", .bool(true)), ("false", .bool(false)),
            ("0", .int(0)), ("1", .int(1)), ("-42", .int(-42)),
            ("9007199254740993", .int(9_007_199_254_740_993)),  // 2^53 + 1: not representable as a Double
            ("9223372036854775807", .int(.max)), ("-9223372036854775808", .int(.min)),
            ("1.5", .double(1.5)), ("-0.25", .double(-0.25)), ("0.1", .double(0.1)),
            ("\"abc\"", .string("abc")), ("\"\"", .string("")), ("\"é\\n\\u0000\"", .string("é\n\u{0}")),
            ("[]", .array([])), ("{}", .object([:])),
            ("[1,\"a\",null,true,{\"k\":[2.5]}]", .array([1, "a", nil, true, ["k": [.double(2.5)]]])),
        ])
    func decodes(_ text: String, _ expected: JSONValue) throws {
        #expect(try json(text) == expected)
    }

    @Test(
        "encodes back to the same text",
        arguments: [
            "null", "true", "false", "0", "-42", "9007199254740993", "9223372036854775807", "-9223372036854775808",
            "1.5", "-0.25", "0.1", "\"abc\"", "[]", "{}", "[1,\"a\",null,true,{\"k\":[2.5]}]",
            "{\"a\":{\"b\":null},\"z\":[]}",
        ])
    func echoesExactly(_ text: String) throws {
        #expect(try encode(try json(text)) == text)
    }

    @Test("values round-trip through JSON")
    func valuesRoundTrip() throws {
        let values: [JSONValue] = [
            .null, .bool(false), .int(9_007_199_254_740_993), .int(-1), .double(3.25), .double(1e-9),
            .string("line\nbreak \"quoted\" / slash"), .array([]), .object([:]),
            ["id": 7, "tags": ["a", "b"], "nested": ["x": nil, "y": .double(0.5)]],
        ]
        for v in values {
            #expect(try roundTrip(v) == v)
        }
    }

    @Test("an integral number keeps its integer form")
    func integralDoublesBecomeInts() throws {
        // `1.0` on the wire is the integer 1; a Double with an integer value is written as one.
        #expect(try json("1.0") == .int(1))
        #expect(try roundTrip(JSONValue.double(2)) == .int(2))
        // Beyond Int64 a number is kept as a Double.
        #expect(try json("18446744073709551616") == .double(18_446_744_073_709_551_616))
    }

    @Test func accessors() {
        let v: JSONValue = ["s": "text", "i": 5, "d": .double(6), "f": .double(6.5), "n": nil]
        #expect(v["s"]?.stringValue == "text")
        #expect(v["i"]?.intValue == 5)
        #expect(v["d"]?.intValue == 6)
        #expect(v["f"]?.intValue == nil)
        #expect(v["n"] == .null)
        #expect(v["missing"] == nil)
        #expect(JSONValue.string("5").intValue == nil)
        #expect(JSONValue.double(1e19).intValue == nil)
        #expect(JSONValue.array([1])["s"] == nil)
        #expect(JSONValue.int(1).stringValue == nil)
    }
}

@Suite("RPCError and the error code table")
struct RPCErrorTests {
    @Test("an application error carries data.code and data.retryable")
    func applicationError() throws {
        let e = RPCError(.leaseLost, "lease lost", details: ["jobId": 12])
        #expect(e.code == 1001)
        #expect(e.message == "lease lost")
        #expect(e.data == ["code": "LEASE_LOST", "retryable": false, "jobId": 12])
        #expect(e.symbol == "LEASE_LOST")
        #expect(e.retryable == false)
        #expect(e.description == "lease lost (LEASE_LOST, 1001)")

        let d = RPCError(.databaseUnavailable, "database down")
        #expect(d.data?["code"] == "DATABASE_UNAVAILABLE")
        #expect(d.data?["retryable"] == true)
        #expect(d.retryable)
    }

    @Test("details cannot override the symbolic code or retryable")
    func detailsDoNotOverride() {
        let e = RPCError(.notFound, "no such job", details: ["code": "SOMETHING_ELSE", "retryable": true])
        #expect(e.symbol == "NOT_FOUND")
        #expect(e.retryable == false)
    }

    @Test("a plain error has no data and is not retryable")
    func plainError() throws {
        let e = RPCError(code: -32000, message: "server error")
        #expect(e.symbol == nil && !e.retryable)
        #expect(e.description == "server error (-32000)")
        #expect(try encode(e) == #"{"code":-32000,"message":"server error"}"#)
    }

    @Test("round-trips on the wire")
    func wireForm() throws {
        let e = RPCError(.validationFailed, "bad settings", details: ["problems": ["retryFactor must be 1…10"]])
        #expect(
            try json(try encode(e))
                == json(
                    #"{"code":1007,"message":"bad settings","data":{"code":"VALIDATION_FAILED","retryable":false,"problems":["retryFactor must be 1…10"]}}"#
                ))
        #expect(try roundTrip(e) == e)
    }

    @Test("every code has a unique number and name")
    func uniqueCodes() {
        let all = RPCErrorCode.all
        #expect(Set(all.map(\.number)).count == all.count)
        #expect(Set(all.map(\.name)).count == all.count)
        for c in all {
            #expect(c.name.allSatisfy { $0.isUppercase || $0 == "_" }, "\(c.name)")
        }
    }

    @Test("standard codes are the specification's; application codes are outside −32768…−32000")
    func codeRanges() {
        let standard: [RPCErrorCode: Int] = [
            .parseError: -32700, .invalidRequest: -32600, .methodNotFound: -32601, .invalidParams: -32602,
            .internalError: -32603,
        ]
        for (code, number) in standard {
            #expect(code.number == number, "\(code.name)")
            #expect(RPCErrorCode.all.contains(code))
        }
        let application = RPCErrorCode.all.filter { standard[$0] == nil }
        #expect(!application.isEmpty)
        for c in application {
            #expect(!(-32768...(-32000)).contains(c.number), "\(c.name) uses a reserved code \(c.number)")
        }
    }

    @Test("the names DESIGN §6 promises exist, with the right retryability")
    func designNames() {
        let byName = Dictionary(RPCErrorCode.all.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let expected: [String: Bool] = [
            "LEASE_LOST": false, "NOT_FOUND": false, "INVALID_STATE": false, "FORBIDDEN": false,
            "DATABASE_UNAVAILABLE": true, "AUTOMATION_DISABLED": false, "VALIDATION_FAILED": false,
        ]
        for (name, retryable) in expected {
            #expect(byName[name]?.retryable == retryable, "\(name)")
        }
        // The machine's rejections map onto codes of the same name.
        for r in [JobStateMachine.Rejection.leaseLost, .invalidState] {
            #expect(byName[r.rawValue] != nil, "\(r.rawValue)")
        }
    }
}

@Suite("Envelopes")
struct EnvelopeTests {
    @Test("a request carries jsonrpc 2.0; without an id it is a notification")
    func requests() throws {
        let r = RPCRequest(id: "abc", method: "jobs.lease", params: LeaseJobs.Params(max: 2, waitMs: 500))
        #expect(try json(try encode(r)) == json(#"{"jsonrpc":"2.0","id":"abc","method":"jobs.lease","params":{"max":2,"waitMs":500}}"#))
        let n = RPCRequest(id: nil, method: "health", params: NoParams())
        #expect(try encode(n) == #"{"jsonrpc":"2.0","method":"health","params":{}}"#)
        let big = RPCRequest(id: .int(9_007_199_254_740_993), method: "health", params: NoParams())
        #expect(try encode(big).contains(#""id":9007199254740993"#))
    }

    @Test("an error response always has an id, null when unknown")
    func failureWithNullID() throws {
        let f = RPCFailure(id: .null, error: RPCError(.parseError, "parse error"))
        #expect(
            try json(try encode(f))
                == json(#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error","data":{"code":"PARSE_ERROR","retryable":false}}}"#))
    }

    @Test func successResponse() throws {
        let s = RPCSuccess(id: 7, result: AgentHello.Result(coordinatorVersion: "0.1.0", leaseSeconds: 60))
        #expect(try encode(s) == #"{"id":7,"jsonrpc":"2.0","result":{"adoptedLeases":[],"coordinatorVersion":"0.1.0","leaseSeconds":60}}"#)
    }

    @Test("a client reads results, errors and ids")
    func responses() throws {
        let ok = try decode(
            RPCResponse<AgentHello.Result>.self,
            #"{"jsonrpc":"2.0","id":9007199254740993,"result":{"coordinatorVersion":"0.1.0","leaseSeconds":30}}"#)
        #expect(ok.id == .int(9_007_199_254_740_993))
        #expect(ok.result == AgentHello.Result(coordinatorVersion: "0.1.0", leaseSeconds: 30))
        #expect(ok.error == nil)

        let err = try decode(
            RPCResponse<AgentHello.Result>.self,
            #"{"jsonrpc":"2.0","id":"x","error":{"code":1001,"message":"lost","data":{"code":"LEASE_LOST","retryable":false}}}"#)
        #expect(err.result == nil)
        #expect(err.error?.symbol == "LEASE_LOST")
        #expect(try decode(RPCResponseID.self, #"{"id":null,"error":{"code":1,"message":"m"}}"#).id == nil)
        #expect(try decode(RPCResponseID.self, #"{"id":"r7","result":1}"#).id == "r7")
    }

    @Test("the version marker must be \"2.0\"")
    func versionMarker() throws {
        #expect(throws: DecodingError.self) { try decode(JSONRPCVersion.self, #""1.0""#) }
        #expect(throws: DecodingError.self) { try decode(JSONRPCVersion.self, "2") }
        _ = try decode(JSONRPCVersion.self, #""2.0""#)
        #expect(try encode(JSONRPCVersion()) == #""2.0""#)
    }

    @Test("NoParams accepts {} and [], and is written as {}")
    func noParams() throws {
        #expect(try decode(NoParams.self, "{}") == NoParams())
        #expect(try decode(NoParams.self, "[]") == NoParams())
        #expect(try decode(NoParams.self, #"{"unexpected":1}"#) == NoParams())
        #expect(try encode(NoParams()) == "{}")
    }
}

@Suite("Method types")
struct MethodCodingTests {
    static let call = CallRecord(
        provider: "simulate", providerCallId: "sim-42", idempotencyKey: "c-1:2026-11-29#2",
        startedAt: "2026-11-29T10:00:00.000Z", endedAt: "2026-11-29T10:01:00.250Z", outcome: .answered,
        durationMs: 60_250, detail: ["sip": 200])

    static let job = JobView(
        id: 9_007_199_254_740_993, queueJobId: "c-1:2026-11-29", customerId: 1, customerRef: "c-1", status: .active,
        phase: .dialing, attemptsMade: 2, maxAttempts: 3, priority: 0, runAt: "2026-11-29T09:00:00.000Z",
        reason: "automation", result: nil, leaseOwner: "agent-1", leaseExpiresAt: "2026-11-29T10:02:00.000Z",
        enqueuedAt: "2026-11-29T08:00:00.000Z", startedAt: "2026-11-29T09:59:00.000Z", completedAt: nil,
        failedAt: nil, updatedAt: "2026-11-29T10:00:00.000Z")

    @Test func leaseParams() throws {
        let p = LeaseJobs.Params(max: 4, waitMs: 25_000)
        #expect(try roundTrip(p) == p)
        #expect(try encode(p) == #"{"max":4,"waitMs":25000}"#)
        #expect(try decode(LeaseJobs.Params.self, #"{"max":1}"#) == LeaseJobs.Params(max: 1))
        #expect(throws: DecodingError.self) { try decode(LeaseJobs.Params.self, #"{"max":"1"}"#) }
        #expect(LeaseJobs.name == "jobs.lease")
    }

    @Test func leaseResult() throws {
        let r = LeaseJobs.Result(jobs: [
            LeasedJob(
                jobId: 3, queueJobId: "q3", leaseToken: "9b1f…", attempt: 1, maxAttempts: 3,
                leaseExpiresAt: "2026-11-29T10:00:00.000Z", reason: nil,
                customer: CallTarget(
                    customerId: 5, externalRef: "c-5", name: "Ada", phone: "+442079460958", timezone: "Europe/London",
                    attributes: ["tier": "gold"]))
        ])
        #expect(try roundTrip(r) == r)
    }

    @Test("jobs.complete params with a call record")
    func completeParams() throws {
        let p = CompleteJob.Params(jobId: 9_007_199_254_740_993, leaseToken: "tok", outcome: .voicemail, call: Self.call)
        #expect(try roundTrip(p) == p)
        let text = try encode(p)
        #expect(text.contains(#""jobId":9007199254740993"#))
        #expect(text.contains(#""outcome":"VOICEMAIL""#))
        #expect(text.contains(#""idempotencyKey":"c-1:2026-11-29#2""#))
        let bare = CompleteJob.Params(jobId: 1, leaseToken: "t", outcome: .answered, call: nil)
        #expect(try roundTrip(bare) == bare)
        #expect(throws: DecodingError.self) {
            try decode(CompleteJob.Params.self, #"{"jobId":1,"leaseToken":"t","outcome":"PICKED_UP"}"#)
        }
    }

    @Test func failAndSkipParams() throws {
        let f = FailJob.Params(jobId: 1, leaseToken: "t", retryable: true, error: "busy", outcome: .busy, call: Self.call)
        #expect(try roundTrip(f) == f)
        let s = SkipJob.Params(jobId: 1, leaseToken: "t", reason: "customer_opted_out")
        #expect(try roundTrip(s) == s)
        let d = DialingJob.Result(allowed: false, idempotencyKey: nil, rule: "invalid_phone", status: .skipped)
        #expect(try roundTrip(d) == d)
        #expect(try json(try encode(d)) == json(#"{"allowed":false,"rule":"invalid_phone","status":"SKIPPED"}"#))
    }

    @Test("JobView uses the camelCase wire names and upper-case states")
    func jobView() throws {
        #expect(try roundTrip(Self.job) == Self.job)
        let v = try json(try encode(Self.job))
        #expect(v["id"] == .int(9_007_199_254_740_993))
        #expect(v["queueJobId"] == "c-1:2026-11-29")
        #expect(v["status"] == "ACTIVE")
        #expect(v["phase"] == "DIALING")
        #expect(v["attemptsMade"] == 2)
        for key in ["enqueuedAt", "startedAt", "updatedAt", "runAt", "leaseOwner", "leaseExpiresAt"] {
            #expect(v[key] != nil, "\(key)")
        }
        let get = GetJob.Result(job: Self.job, callLogs: [
            CallLogView(
                id: 1, jobId: Self.job.id, attempt: 2, agent: "agent-1", provider: "simulate", providerCallId: nil,
                idempotencyKey: "c-1:2026-11-29#2", startedAt: nil, endedAt: nil, outcome: .noAnswer, durationMs: nil,
                detail: nil)
        ])
        #expect(try roundTrip(get) == get)
        let list = ListJobs.Result(jobs: [Self.job], nextCursor: "abc")
        #expect(try roundTrip(list) == list)
    }

    @Test func reportAndEnqueueResults() throws {
        let r = ReportResult(
            jobId: 1, status: .queued, attemptsMade: 1, runAt: "2026-11-29T10:05:00.000Z", replayed: false,
            result: ["outcome": "BUSY"])
        #expect(try roundTrip(r) == r)
        let e = EnqueueJobs.Result(
            enqueued: 1, existing: 1, rejected: [ItemError(index: 2, ref: "c-9", reason: "unknown customer")],
            jobIds: [10, 11, nil])
        #expect(try roundTrip(e) == e)
        #expect(try json(try encode(e))["jobIds"] == [10, 11, nil])
        let items = EnqueueJobs.Params(jobs: [EnqueueItem(customerRef: "c-1", queueJobId: "q-1"), EnqueueItem(customerId: 2)])
        #expect(try roundTrip(items) == items)
    }

    @Test func healthAndCounts() throws {
        var q = QueueCounts(QUEUED: 3, ACTIVE: 1)
        q[.failed] = 2
        #expect(q[.failed] == 2 && q.open == 4 && q.total == 6)
        let h = Health.Result(
            version: CampaignVersion.current, uptimeSeconds: 5, database: "up", leader: true, agents: 2, queue: q,
            completedToday: 0)
        #expect(try roundTrip(h) == h)
        #expect(
            try json(try encode(q)) == json(#"{"QUEUED":3,"ACTIVE":1,"COMPLETED":0,"FAILED":2,"SKIPPED":0}"#))
        let t = TallyJobs.Result(byStatus: q, byOutcome: ["COMPLETED/ANSWERED": 3], callLogs: 4)
        #expect(try roundTrip(t) == t)
    }

    @Test func customersAndAutomation() throws {
        let u = UpsertCustomers.Params(customers: [
            CustomerInput(externalRef: "c-1", name: "Ada", phone: "+442079460958", timezone: "Europe/London", status: .optedOut)
        ])
        #expect(try roundTrip(u) == u)
        #expect(try encode(u).contains(#""status":"OPTED_OUT""#))

        let s = AutomationSettings()
        #expect(try roundTrip(s) == s)
        #expect(s.problems().isEmpty)
        #expect(s.retryPolicy == RetryPolicy(baseMs: 60_000, factor: 2, capMs: 3_600_000))
        let changed = try s.applying(["retryFactor": .double(0.5), "maxAttempts": 0])
        #expect(changed.retryFactor == 0.5 && changed.maxAttempts == 0 && changed.retryBaseMs == s.retryBaseMs)
        #expect(changed.problems().count == 2)
        #expect(AutomationSettings(retryBaseMs: 10, retryCapMs: 5).problems() == ["retryCapMs must be ≥ retryBaseMs"])
        #expect(throws: SettingsError.self) { try s.applying(["nope": 1]) }
        #expect(throws: SettingsError.self) { try s.applying(["dailyCap": "many"]) }
        // A partial object on the wire; stored settings missing newer fields take their defaults.
        #expect(try decode(SetAutomation.Params.self, #"{"dailyCap":5}"#) == SetAutomation.Params(["dailyCap": 5]))
        #expect(try decode(AutomationSettings.self, #"{"maxAttempts":7}"#).dailyCap == s.dailyCap)
    }

    @Test("several windows a day and blackout dates: validated, and read as the policy's windows")
    func windowsAndBlackoutDates() throws {
        let s = AutomationSettings()
        // No windows: the one window of the older fields.
        #expect(s.callingWindows == CallingWindows(s.workingHours!))
        let split = try s.applying([
            "windows": [
                ["days": [1, 2, 3, 4, 5], "start": "09:00", "end": "12:00"],
                ["days": [6], "start": "10:00", "end": "24:00"],
            ],
            "blackoutDates": ["2026-12-25"],
        ])
        #expect(split.problems().isEmpty)
        #expect(split.callingWindows == CallingWindows(
            windows: [
                .init(isoWeekdays: [1, 2, 3, 4, 5], startSecond: 9 * 3600, endSecond: 12 * 3600),
                .init(isoWeekdays: [6], startSecond: 10 * 3600, endSecond: 86_400),
            ],
            blackoutDays: [LocalTime.day(of: "2026-12-25")!]))
        #expect(try roundTrip(split) == split)
        let bad = try s.applying([
            "windows": [
                ["days": [], "start": "09:00", "end": "12:00"], ["days": [1, 1], "start": "12:00", "end": "09:00"],
                ["days": [8], "start": "9:00", "end": "25:00"],
            ],
            "blackoutDates": ["2026-02-30"],
        ])
        #expect(bad.problems() == [
            "windows[0].days must be distinct ISO weekdays 1 (Monday) … 7 (Sunday)",
            "windows[1].start must be before its end",
            "windows[1].days must be distinct ISO weekdays 1 (Monday) … 7 (Sunday)",
            "windows[2].start must be HH:MM (00:00…23:59)", "windows[2].end must be HH:MM (00:01…24:00)",
            "windows[2].days must be distinct ISO weekdays 1 (Monday) … 7 (Sunday)",
            "blackoutDates must be YYYY-MM-DD dates (2026-02-30 is not)",
        ])
        #expect(bad.callingWindows == nil)
        #expect(throws: SettingsError.self) { try s.applying(["windows": ["09:00-12:00"]]) }
        #expect(try s.applying(["windows": .array(Array(repeating: ["days": [1], "start": "09:00", "end": "10:00"], count: 33))])
            .problems() == ["windows: at most 32"])
    }

    @Test("retries by outcome: decoded from a settings patch, validated with the outcome and the delay named")
    func retrySettings() throws {
        let s = try AutomationSettings().applying([
            "retry": ["NO_ANSWER": ["delays": ["30m", "4h", "nextWindow"]], "VOICEMAIL": ["delays": ["nextDay"]]],
        ])
        #expect(s.problems().isEmpty)
        #expect(s.retrySchedule?.delays == [.noAnswer: [.after(seconds: 1800), .after(seconds: 14_400), .nextWindow], .voicemail: [.nextDay]])
        #expect(s.asObject()["retry"] == ["NO_ANSWER": ["delays": ["30m", "4h", "nextWindow"]], "VOICEMAIL": ["delays": ["nextDay"]]])
        var bad = AutomationSettings()
        bad.retry = ["ANSWERED": .init(delays: ["1h"]), "BUSY": .init(delays: []), "FAILED": .init(delays: ["5w"]), "LATER": .init(delays: ["1h"])]
        #expect(bad.problems() == [
            "retry: ANSWERED is not an outcome that is retried (NO_ANSWER, BUSY, VOICEMAIL, REJECTED, FAILED)",
            "retry.BUSY.delays: 1…100 delays",
            "retry.FAILED.delays: 5w is not a delay (90s, 30m, 4h, 2d up to 7d, nextWindow, nextDay)",
            "retry: LATER is not an outcome that is retried (NO_ANSWER, BUSY, VOICEMAIL, REJECTED, FAILED)",
        ])
        #expect(throws: SettingsError.self) { try AutomationSettings().applying(["retry": ["BUSY": ["10m"]]]) }
    }

    @Test("every method name is unique and in a DESIGN §6 family")
    func methodNames() {
        let names = ProtocolMethods.all
        #expect(Set(names).count == names.count)
        for n in names {
            #expect(
                ["rpc.discover", "health", "metrics", "agent.", "agents.", "jobs.", "calls.", "customers.", "automation.", "campaigns.", "events.", "retention.", "suppressions.", "audit."].contains { n == $0 || n.hasPrefix($0) },
                "\(n)")
        }
        #expect(names.contains("jobs.dialing") && names.contains("agent.hello"))
    }

    @Test("enums use their upper-case wire names")
    func enumWireNames() throws {
        #expect(try encode(JobStatus.allCases) == #"["QUEUED","ACTIVE","COMPLETED","FAILED","SKIPPED"]"#)
        #expect(try encode(JobPhase.allCases) == #"["CLAIMED","DIALING"]"#)
        #expect(try encode(CallOutcome.allCases) == #"["ANSWERED","NO_ANSWER","BUSY","VOICEMAIL","REJECTED","FAILED"]"#)
        #expect(
            try encode(CustomerStatus.allCases)
                == #"["ACTIVE","OPTED_OUT","DO_NOT_CALL","CONVERTED","INVALID_NUMBER"]"#)
    }
}
