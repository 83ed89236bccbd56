/// Results the coordinator writes as JSON by hand, without `JSONEncoder` (issue 11's profile:
/// encoding lease and report answers was ~15 % of the coordinator's CPU in a drain). The bytes
/// are what `JSONEncoder` would write for the same value, up to member order and number form:
/// optional members that are nil are left out, as synthesized `Codable` leaves them out. Tests
/// hold each writer to the `Codable` form by decoding both.
public protocol JSONWritable {
    func writeJSON(into out: inout [UInt8])
}

extension JSONWritable {
    public var jsonBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        self.writeJSON(into: &out)
        return out
    }
}

/// Writes `{"a":…,"b":…}` member by member.
struct JSONObjectWriter {
    private var first = true

    mutating func key(_ name: StaticString, into out: inout [UInt8]) {
        out.append(self.first ? UInt8(ascii: "{") : UInt8(ascii: ","))
        self.first = false
        out.append(UInt8(ascii: "\""))
        out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    mutating func string(_ name: StaticString, _ v: String?, into out: inout [UInt8]) {
        guard let v else { return }
        self.key(name, into: &out)
        JSONValue.writeString(v, into: &out)
    }

    mutating func int<I: BinaryInteger>(_ name: StaticString, _ v: I?, into out: inout [UInt8]) {
        guard let v else { return }
        self.key(name, into: &out)
        out.append(contentsOf: String(v).utf8)
    }

    mutating func bool(_ name: StaticString, _ v: Bool?, into out: inout [UInt8]) {
        guard let v else { return }
        self.key(name, into: &out)
        out.append(contentsOf: (v ? "true" : "false").utf8)
    }

    mutating func value(_ name: StaticString, _ v: JSONValue?, into out: inout [UInt8]) {
        guard let v else { return }
        self.key(name, into: &out)
        JSONValue.write(v, into: &out)
    }

    mutating func object(_ name: StaticString, _ v: (some JSONWritable)?, into out: inout [UInt8]) {
        guard let v else { return }
        self.key(name, into: &out)
        v.writeJSON(into: &out)
    }

    mutating func array(_ name: StaticString, _ v: [some JSONWritable]?, into out: inout [UInt8]) {
        guard let v else { return }
        self.key(name, into: &out)
        out.append(UInt8(ascii: "["))
        for (i, e) in v.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            e.writeJSON(into: &out)
        }
        out.append(UInt8(ascii: "]"))
    }

    func end(into out: inout [UInt8]) {
        if self.first { out.append(UInt8(ascii: "{")) }
        out.append(UInt8(ascii: "}"))
    }
}

extension CallTarget: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.int("customerId", self.customerId, into: &out)
        w.string("externalRef", self.externalRef, into: &out)
        w.string("name", self.name, into: &out)
        w.string("phone", self.phone, into: &out)
        w.string("timezone", self.timezone, into: &out)
        w.value("attributes", self.attributes, into: &out)
        w.end(into: &out)
    }
}

extension LeasedJob: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.int("jobId", self.jobId, into: &out)
        w.string("queueJobId", self.queueJobId, into: &out)
        w.string("leaseToken", self.leaseToken, into: &out)
        w.int("attempt", self.attempt, into: &out)
        w.int("maxAttempts", self.maxAttempts, into: &out)
        w.string("leaseExpiresAt", self.leaseExpiresAt, into: &out)
        w.string("reason", self.reason, into: &out)
        w.object("customer", self.customer, into: &out)
        w.string("idempotencyKey", self.idempotencyKey, into: &out)
        w.end(into: &out)
    }
}

extension DialRefusal: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.int("jobId", self.jobId, into: &out)
        w.string("rule", self.rule, into: &out)
        w.end(into: &out)
    }
}

extension LeaseJobs.Result: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.array("jobs", self.jobs, into: &out)
        w.array("refused", self.refused, into: &out)
        w.end(into: &out)
    }
}

extension ReportResult: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.int("jobId", self.jobId, into: &out)
        w.string("status", self.status.rawValue, into: &out)
        w.int("attemptsMade", self.attemptsMade, into: &out)
        w.string("runAt", self.runAt, into: &out)
        w.bool("replayed", self.replayed, into: &out)
        w.value("result", self.result, into: &out)
        w.end(into: &out)
    }
}

extension RPCError: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.int("code", self.code, into: &out)
        w.string("message", self.message, into: &out)
        w.value("data", self.data, into: &out)
        w.end(into: &out)
    }
}

extension JobReportAnswer: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.object("result", self.result, into: &out)
        w.object("error", self.error, into: &out)
        w.end(into: &out)
    }
}

extension ReportJobs.Result: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.array("results", self.results, into: &out)
        w.end(into: &out)
    }
}

// MARK: Requests the agent writes by hand

extension CallRecord: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.string("provider", self.provider, into: &out)
        w.string("providerCallId", self.providerCallId, into: &out)
        w.string("idempotencyKey", self.idempotencyKey, into: &out)
        w.string("startedAt", self.startedAt, into: &out)
        w.string("endedAt", self.endedAt, into: &out)
        w.string("outcome", self.outcome.rawValue, into: &out)
        w.int("durationMs", self.durationMs, into: &out)
        w.value("detail", self.detail, into: &out)
        w.bool("optOut", self.optOut, into: &out)
        w.end(into: &out)
    }
}

extension CompleteJob.Params: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.int("jobId", self.jobId, into: &out)
        w.string("leaseToken", self.leaseToken, into: &out)
        w.string("outcome", self.outcome.rawValue, into: &out)
        w.object("call", self.call, into: &out)
        w.end(into: &out)
    }
}

extension FailJob.Params: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.int("jobId", self.jobId, into: &out)
        w.string("leaseToken", self.leaseToken, into: &out)
        w.bool("retryable", self.retryable, into: &out)
        w.string("error", self.error, into: &out)
        w.string("outcome", self.outcome?.rawValue, into: &out)
        w.object("call", self.call, into: &out)
        w.bool("outcomeUnknown", self.outcomeUnknown, into: &out)
        w.bool("notPlaced", self.notPlaced, into: &out)
        w.end(into: &out)
    }
}

extension SkipJob.Params: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.int("jobId", self.jobId, into: &out)
        w.string("leaseToken", self.leaseToken, into: &out)
        w.string("reason", self.reason, into: &out)
        w.end(into: &out)
    }
}

extension JobReport: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.object("complete", self.complete, into: &out)
        w.object("fail", self.fail, into: &out)
        w.object("skip", self.skip, into: &out)
        w.end(into: &out)
    }
}

extension ReportJobs.Params: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.array("reports", self.reports, into: &out)
        w.end(into: &out)
    }
}

extension LeaseJobs.Params: JSONWritable {
    public func writeJSON(into out: inout [UInt8]) {
        var w = JSONObjectWriter()
        w.int("max", self.max, into: &out)
        w.int("waitMs", self.waitMs, into: &out)
        w.bool("dial", self.dial, into: &out)
        w.end(into: &out)
    }
}

/// `{"jsonrpc":"2.0","id":<id>,"method":<method>,"params":<params>}` for params written by hand.
public func writeRequest(id: Int64, method: String, params: some JSONWritable) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(512)
    out.append(contentsOf: #"{"jsonrpc":"2.0","id":"#.utf8)
    out.append(contentsOf: String(id).utf8)
    out.append(contentsOf: #","method":"#.utf8)
    JSONValue.writeString(method, into: &out)
    out.append(contentsOf: #","params":"#.utf8)
    params.writeJSON(into: &out)
    out.append(UInt8(ascii: "}"))
    return out
}
