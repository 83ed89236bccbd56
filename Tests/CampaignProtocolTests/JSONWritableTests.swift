import CampaignCore
import CampaignProtocol
import Foundation
import Testing

/// The hand-written answers of the hot path against their `Codable` form: the same value back,
/// and the same JSON tree as `JSONEncoder` writes (nil members left out alike).
@Suite("JSONWritable: hand-written lease and report answers")
struct JSONWritableTests {
    static func check<T: JSONWritable & Codable & Equatable>(_ value: T, _ label: String) throws {
        let ours = Data(value.jsonBytes)
        #expect(try JSONDecoder().decode(T.self, from: ours) == value, "\(label): \(String(decoding: ours, as: UTF8.self))")
        let theirs = try JSONEncoder().encode(value)
        let a = try JSONValue(jsonText: String(decoding: ours, as: UTF8.self))
        let b = try JSONDecoder().decode(JSONValue.self, from: theirs)
        #expect(JSONValueTextTests.same(a, b), "\(label): ours \(a) vs JSONEncoder's \(b)")
    }

    static let texts = ["", "plain", "quote \" and \\ back", "line\nbreak\t\u{1}", "ünï ☎ 😀", "a/b"]

    static func target(_ i: Int) -> CallTarget {
        CallTarget(
            customerId: Int64(i) * 7_919, externalRef: "cust-\(texts[i % texts.count])", name: texts[(i + 1) % texts.count],
            phone: "+1415555\(1000 + i)", timezone: "Europe/Paris",
            attributes: i % 3 == 0 ? nil : i % 3 == 1 ? .object(["tier": "gold", "n": .int(Int64(i)), "x": .double(0.5)]) : .object(["tags": ["a", nil, true]]))
    }

    static func leased(_ i: Int) -> LeasedJob {
        LeasedJob(
            jobId: Int64(i), queueJobId: "q-\(texts[i % texts.count])", leaseToken: UUID().uuidString.lowercased(),
            attempt: i % 3 + 1, maxAttempts: 3, leaseExpiresAt: "2026-12-01T10:00:0\(i % 10).123Z",
            reason: i % 2 == 0 ? nil : "automation", customer: target(i), idempotencyKey: i % 4 == 0 ? nil : "q-\(i)#1")
    }

    static func report(_ i: Int) -> ReportResult {
        ReportResult(
            jobId: Int64(i), status: JobStatus.allCases[i % JobStatus.allCases.count], attemptsMade: i % 4,
            runAt: i % 2 == 0 ? nil : "2026-12-01T10:00:00.000Z", replayed: i % 3 == 0,
            result: i % 5 == 0 ? nil : .object(["outcome": "ANSWERED", "error": .string(texts[i % texts.count]), "retry": true]))
    }

    @Test("lease answers: with and without refusals, reasons, keys, attributes")
    func leases() throws {
        for i in 0..<24 {
            try Self.check(Self.target(i), "target \(i)")
            try Self.check(Self.leased(i), "leased \(i)")
            let refused: [DialRefusal]? = i % 3 == 0 ? nil : (0..<(i % 3)).map { DialRefusal(jobId: Int64($0), rule: "not_active") }
            try Self.check(LeaseJobs.Result(jobs: (0..<(i % 5)).map(Self.leased), refused: refused), "lease result \(i)")
        }
        try Self.check(LeaseJobs.Result(jobs: []), "empty lease")
    }

    @Test("report answers: results, errors with data, and jobs.report's mix")
    func reports() throws {
        for i in 0..<24 {
            try Self.check(Self.report(i), "report \(i)")
            let error = RPCError(.leaseLost, "lease lost: \(Self.texts[i % Self.texts.count])", details: ["status": "QUEUED"])
            try Self.check(error, "error \(i)")
            try Self.check(RPCError(code: -32000 - i, message: "plain"), "error without data \(i)")
            let answers = (0..<(i % 6)).map { k in k % 2 == 0 ? JobReportAnswer(result: Self.report(k)) : JobReportAnswer(error: error) }
            try Self.check(ReportJobs.Result(results: answers), "jobs.report result \(i)")
        }
    }

    @Test("the exact bytes of a small answer")
    func bytes() {
        let r = ReportResult(jobId: 7, status: .completed, attemptsMade: 1, runAt: nil, replayed: false, result: ["outcome": "ANSWERED"])
        #expect(String(decoding: r.jsonBytes, as: UTF8.self)
            == #"{"jobId":7,"status":"COMPLETED","attemptsMade":1,"replayed":false,"result":{"outcome":"ANSWERED"}}"#)
        #expect(String(decoding: ReportJobs.Result(results: []).jsonBytes, as: UTF8.self) == #"{"results":[]}"#)
        #expect(String(decoding: JobReportAnswer().jsonBytes, as: UTF8.self) == "{}")
    }
}

/// The hand-read answers of the agent against `JSONDecoder`'s reading of the same bytes.
@Suite("JSONReadable: hand-read lease and report answers")
struct JSONReadableTests {
    static func read<T: JSONReadable>(_ type: T.Type, _ text: String) throws -> T { try T(json: try JSONValue(jsonText: text)) }

    static func check<T: JSONReadable & Codable & Equatable>(_ value: T, _ label: String) throws {
        let text = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        #expect(try Self.read(T.self, text) == value, "\(label): \(text)")
        #expect(try Self.read(T.self, text) == JSONDecoder().decode(T.self, from: Data(text.utf8)), "\(label)")
    }

    @Test("every writer's value reads back; JSONDecoder agrees")
    func roundTrips() throws {
        for i in 0..<24 {
            try Self.check(JSONWritableTests.leased(i), "leased \(i)")
            let refused: [DialRefusal]? = i % 3 == 0 ? nil : [DialRefusal(jobId: Int64(i), rule: "daily_cap")]
            try Self.check(LeaseJobs.Result(jobs: (0..<(i % 4)).map(JSONWritableTests.leased), refused: refused), "lease \(i)")
            try Self.check(JSONWritableTests.report(i), "report \(i)")
            let error = RPCError(.invalidState, "not allowed while the job is SKIPPED", details: ["status": "SKIPPED"])
            try Self.check(
                ReportJobs.Result(results: (0..<(i % 5)).map { k in
                    k % 2 == 0 ? JobReportAnswer(result: JSONWritableTests.report(k)) : JobReportAnswer(error: error)
                }), "jobs.report \(i)")
        }
    }

    @Test("optional members absent or null, unknown members ignored")
    func leniency() throws {
        let r = try Self.read(
            ReportResult.self, #"{"jobId":3,"status":"QUEUED","attemptsMade":1,"runAt":null,"replayed":false,"result":null,"new":1}"#)
        #expect(r == ReportResult(jobId: 3, status: .queued, attemptsMade: 1, runAt: nil, replayed: false, result: nil))
        #expect(try Self.read(LeaseJobs.Result.self, #"{"jobs":[],"refused":null}"#) == LeaseJobs.Result(jobs: [], refused: nil))
    }

    @Test("what JSONDecoder refuses is refused", arguments: [
        #"{"status":"QUEUED","attemptsMade":1,"replayed":false}"#,  // jobId missing
        #"{"jobId":"3","status":"QUEUED","attemptsMade":1,"replayed":false}"#,  // jobId a string
        #"{"jobId":3,"status":"LOST","attemptsMade":1,"replayed":false}"#,  // unknown status
        #"{"jobId":3,"status":"QUEUED","attemptsMade":1,"replayed":"no"}"#,  // replayed not a boolean
        #"{"jobId":3,"status":"QUEUED","attemptsMade":1.5,"replayed":false}"#,  // not an integer
        #"[1]"#,
    ])
    func refusals(_ text: String) {
        #expect(throws: JSONShapeError.self) { try Self.read(ReportResult.self, text) }
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ReportResult.self, from: Data(text.utf8)) }
    }

    @Test("a lease without its customer, or with a malformed one, is refused with the path")
    func nested() {
        #expect(throws: JSONShapeError.self) {
            try Self.read(LeasedJob.self, #"{"jobId":1,"queueJobId":"q","leaseToken":"t","attempt":1,"maxAttempts":3,"leaseExpiresAt":"x"}"#)
        }
        do {
            _ = try Self.read(LeaseJobs.Result.self, #"{"jobs":[{"jobId":1,"queueJobId":"q","leaseToken":"t","attempt":1,"maxAttempts":3,"leaseExpiresAt":"x","customer":{"customerId":1}}]}"#)
            Issue.record("accepted a customer without its fields")
        } catch let e as JSONShapeError {
            #expect(e.path == ".jobs[0].customer.externalRef", "\(e)")
        } catch {
            Issue.record("\(error)")
        }
    }
}

/// The hand-read params of `jobs.report` against `JSONDecoder`.
@Suite("JSONReadable: jobs.report params")
struct JSONReadableParamsTests {
    static func call(_ i: Int) -> CallRecord? {
        i % 4 == 0 ? nil : CallRecord(
            provider: "sim", providerCallId: i % 2 == 0 ? nil : "p-\(i)", idempotencyKey: "q-\(i)#1",
            startedAt: i % 3 == 0 ? nil : "2026-12-01T10:00:00.000Z", endedAt: "2026-12-01T10:00:01.500Z",
            outcome: CallOutcome.allCases[i % CallOutcome.allCases.count], durationMs: i % 5 == 0 ? nil : i * 10,
            detail: i % 2 == 0 ? nil : .object(["simulated": true, "sip": .int(200), "note": .string(JSONWritableTests.texts[i % 6])]))
    }

    static func report(_ i: Int) -> JobReport {
        switch i % 3 {
        case 0: return .complete(.init(jobId: Int64(i), leaseToken: "t-\(i)", outcome: .answered, call: call(i)))
        case 1:
            return .fail(.init(jobId: Int64(i), leaseToken: "t-\(i)", retryable: i % 2 == 0, error: "e \(JSONWritableTests.texts[i % 6])",
                               outcome: i % 4 == 1 ? nil : .busy, call: call(i), outcomeUnknown: i % 5 == 0 ? nil : i % 2 == 0,
                               notPlaced: i % 7 == 0 ? nil : i % 7 == 1))
        default: return .skip(.init(jobId: Int64(i), leaseToken: "t-\(i)", reason: "r"))
        }
    }

    @Test("reports of every kind read back; JSONDecoder agrees")
    func roundTrips() throws {
        for n in 1..<20 {
            let p = ReportJobs.Params(reports: (0..<n).map(Self.report))
            let text = String(decoding: try JSONEncoder().encode(p), as: UTF8.self)
            let ours = try ReportJobs.Params(json: try JSONValue(jsonText: text))
            #expect(ours == p, "\(text)")
            #expect(ours == (try JSONDecoder().decode(ReportJobs.Params.self, from: Data(text.utf8))))
        }
    }

    @Test("wrong params are refused with their path", arguments: [
        (#"{"reports":[{"complete":{"jobId":1,"leaseToken":"t"}}]}"#, ".reports[0].complete.outcome"),
        (#"{"reports":[{"complete":{"jobId":1,"leaseToken":"t","outcome":"MAYBE"}}]}"#, ".reports[0].complete.outcome"),
        (#"{"reports":[{"fail":{"jobId":1,"leaseToken":"t","retryable":1,"error":"x"}}]}"#, ".reports[0].fail.retryable"),
        (#"{"reports":[{"fail":{"jobId":1,"leaseToken":"t","retryable":true,"error":"x","call":{"provider":"p"}}}]}"#,
         ".reports[0].fail.call.idempotencyKey"),
        (#"{"reports":{}}"#, ".reports"),
        (#"{}"#, ".reports"),
    ])
    func refusals(_ text: String, _ path: String) throws {
        do {
            _ = try ReportJobs.Params(json: try JSONValue(jsonText: text))
            Issue.record("accepted \(text)")
        } catch let e as JSONShapeError {
            #expect(e.path == path, "\(e)")
        }
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ReportJobs.Params.self, from: Data(text.utf8)) }
    }
}

/// The hand-written requests of the agent against their `Codable` form.
@Suite("JSONWritable: the agent's requests")
struct JSONWritableRequestTests {
    @Test("reports and leases: the same value back, the same tree as JSONEncoder")
    func requests() throws {
        for i in 0..<24 {
            if let c = JSONReadableParamsTests.call(i) { try JSONWritableTests.check(c, "call \(i)") }
            let r = JSONReadableParamsTests.report(i)
            try JSONWritableTests.check(r, "report \(i)")
            if let p = r.complete { try JSONWritableTests.check(p, "complete \(i)") }
            if let p = r.fail { try JSONWritableTests.check(p, "fail \(i)") }
            if let p = r.skip { try JSONWritableTests.check(p, "skip \(i)") }
            try JSONWritableTests.check(ReportJobs.Params(reports: (0..<i).map(JSONReadableParamsTests.report)), "jobs.report \(i)")
            let lease = LeaseJobs.Params(max: i + 1, waitMs: i % 2 == 0 ? nil : i * 100, dial: i % 3 == 0 ? nil : i % 3 == 1)
            try JSONWritableTests.check(lease, "lease \(i)")
        }
    }

    @Test("the request envelope is JSONEncoder's RPCRequest")
    func envelope() throws {
        let p = ReportJobs.Params(reports: [JSONReadableParamsTests.report(1), JSONReadableParamsTests.report(2)])
        let ours = try JSONValue(jsonText: String(decoding: writeRequest(id: 42, method: ReportJobs.name, params: p), as: UTF8.self))
        let theirs = try JSONDecoder().decode(
            JSONValue.self, from: JSONEncoder().encode(RPCRequest(id: .int(42), method: ReportJobs.name, params: p)))
        #expect(JSONValueTextTests.same(ours, theirs), "\(ours) vs \(theirs)")
        #expect(ours["jsonrpc"] == "2.0" && ours["id"] == .int(42) && ours["method"] == "jobs.report")
    }
}
