import CampaignCore

/// Answers the agent reads by hand from a `JSONValue` tree (parsed by `JSONValue(jsonText:)`)
/// instead of `JSONDecoder` (issue 11's profile: decoding lease and report answers was ~20 % of
/// a busy agent's CPU). Same rules as the synthesized `Decodable`: required members must be
/// there with their type, optional ones may be absent or null, unknown members are ignored.
public protocol JSONReadable {
    init(json: JSONValue) throws
}

/// Why an answer does not have the shape of its type.
public struct JSONShapeError: Error, CustomStringConvertible {
    public var path: String
    public var problem: String
    public var description: String { "\(self.path): \(self.problem)" }
}

/// The members of one JSON object, read with their expected types.
struct JSONFields {
    let members: [String: JSONValue]
    let path: String

    init(_ value: JSONValue, _ path: String) throws {
        guard case .object(let o) = value else { throw JSONShapeError(path: path, problem: "expected an object") }
        self.members = o
        self.path = path
    }

    private func present(_ key: String) -> JSONValue? {
        switch self.members[key] {
        case nil, .null?: return nil
        case let v?: return v
        }
    }

    private func fail(_ key: String, _ problem: String) -> JSONShapeError {
        JSONShapeError(path: "\(self.path).\(key)", problem: problem)
    }

    func int64(_ key: String) throws -> Int64 {
        guard let v = self.present(key) else { throw self.fail(key, "missing") }
        guard let i = v.intValue else { throw self.fail(key, "expected an integer") }
        return i
    }

    func int(_ key: String) throws -> Int { Int(try self.int64(key)) }

    func string(_ key: String) throws -> String {
        guard let v = try self.optionalString(key) else { throw self.fail(key, "missing") }
        return v
    }

    func optionalString(_ key: String) throws -> String? {
        guard let v = self.present(key) else { return nil }
        guard case .string(let s) = v else { throw self.fail(key, "expected a string") }
        return s
    }

    func bool(_ key: String) throws -> Bool {
        guard let v = self.present(key) else { throw self.fail(key, "missing") }
        guard case .bool(let b) = v else { throw self.fail(key, "expected a boolean") }
        return b
    }

    func value(_ key: String) -> JSONValue? { self.present(key) }

    func object<T: JSONReadable>(_ key: String, _ type: T.Type) throws -> T? {
        guard let v = self.present(key) else { return nil }
        do { return try T(json: v) } catch let e as JSONShapeError { throw JSONShapeError(path: "\(self.path).\(key)\(e.path)", problem: e.problem) }
    }

    func array<T: JSONReadable>(_ key: String, _ type: T.Type) throws -> [T]? {
        guard let v = self.present(key) else { return nil }
        guard case .array(let a) = v else { throw self.fail(key, "expected an array") }
        return try a.enumerated().map { i, e in
            do { return try T(json: e) } catch let e as JSONShapeError {
                throw JSONShapeError(path: "\(self.path).\(key)[\(i)]\(e.path)", problem: e.problem)
            }
        }
    }

    func required<T>(_ key: String, _ v: T?) throws -> T {
        guard let v else { throw self.fail(key, "missing") }
        return v
    }
}

extension CallTarget: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(
            customerId: try f.int64("customerId"), externalRef: try f.string("externalRef"), name: try f.string("name"),
            phone: try f.string("phone"), timezone: try f.string("timezone"), attributes: f.value("attributes"))
    }
}

extension LeasedJob: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(
            jobId: try f.int64("jobId"), queueJobId: try f.string("queueJobId"), leaseToken: try f.string("leaseToken"),
            attempt: try f.int("attempt"), maxAttempts: try f.int("maxAttempts"), leaseExpiresAt: try f.string("leaseExpiresAt"),
            reason: try f.optionalString("reason"), customer: try f.required("customer", try f.object("customer", CallTarget.self)),
            idempotencyKey: try f.optionalString("idempotencyKey"))
    }
}

extension DialRefusal: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(jobId: try f.int64("jobId"), rule: try f.string("rule"))
    }
}

extension LeaseJobs.Result: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(jobs: try f.required("jobs", try f.array("jobs", LeasedJob.self)), refused: try f.array("refused", DialRefusal.self))
    }
}

extension ReportResult: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        let status = try f.string("status")
        guard let s = JobStatus(rawValue: status) else { throw JSONShapeError(path: ".status", problem: "unknown status \(status)") }
        self.init(
            jobId: try f.int64("jobId"), status: s, attemptsMade: try f.int("attemptsMade"), runAt: try f.optionalString("runAt"),
            replayed: try f.bool("replayed"), result: f.value("result"))
    }
}

extension RPCError: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(code: try f.int("code"), message: try f.string("message"), data: f.value("data"))
    }
}

extension JobReportAnswer: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(result: try f.object("result", ReportResult.self), error: try f.object("error", RPCError.self))
    }
}

extension ReportJobs.Result: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(results: try f.required("results", try f.array("results", JobReportAnswer.self)))
    }
}

// MARK: Requests the coordinator reads by hand (`jobs.report`, the agent's hot path)

extension JSONFields {
    func outcome(_ key: String) throws -> CallOutcome? {
        guard let s = try self.optionalString(key) else { return nil }
        guard let o = CallOutcome(rawValue: s) else {
            throw JSONShapeError(path: "\(self.path).\(key)", problem: "unknown outcome \(s)")
        }
        return o
    }

    func optionalInt(_ key: String) throws -> Int? {
        guard self.value(key) != nil else { return nil }
        return try self.int(key)
    }

    func optionalBool(_ key: String) throws -> Bool? {
        guard self.value(key) != nil else { return nil }
        return try self.bool(key)
    }
}

extension CallRecord: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(
            provider: try f.string("provider"), providerCallId: try f.optionalString("providerCallId"),
            idempotencyKey: try f.string("idempotencyKey"), startedAt: try f.optionalString("startedAt"),
            endedAt: try f.optionalString("endedAt"), outcome: try f.required("outcome", try f.outcome("outcome")),
            durationMs: try f.optionalInt("durationMs"), detail: f.value("detail"), optOut: try f.optionalBool("optOut"))
    }
}

extension CompleteJob.Params: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(
            jobId: try f.int64("jobId"), leaseToken: try f.string("leaseToken"),
            outcome: try f.required("outcome", try f.outcome("outcome")), call: try f.object("call", CallRecord.self))
    }
}

extension FailJob.Params: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(
            jobId: try f.int64("jobId"), leaseToken: try f.string("leaseToken"), retryable: try f.bool("retryable"),
            error: try f.string("error"), outcome: try f.outcome("outcome"), call: try f.object("call", CallRecord.self),
            outcomeUnknown: try f.optionalBool("outcomeUnknown"), notPlaced: try f.optionalBool("notPlaced"))
    }
}

extension SkipJob.Params: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(jobId: try f.int64("jobId"), leaseToken: try f.string("leaseToken"), reason: try f.string("reason"))
    }
}

extension JobReport: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(
            complete: try f.object("complete", CompleteJob.Params.self), fail: try f.object("fail", FailJob.Params.self),
            skip: try f.object("skip", SkipJob.Params.self))
    }
}

extension ReportJobs.Params: JSONReadable {
    public init(json: JSONValue) throws {
        let f = try JSONFields(json, "")
        self.init(reports: try f.required("reports", try f.array("reports", JobReport.self)))
    }
}
