import CampaignProtocol
import Testing

/// Each params type's `validate()` at the edges of ``ParamLimits``: the value just inside passes,
/// the one just outside is refused with the code and message the caller reads.
@Suite("Params validation")
struct ParamsValidationTests {
    /// The error `validate` threw (nil: it passed).
    static func refusal(_ validate: () throws -> Void) -> RPCError? {
        do {
            try validate()
            return nil
        } catch let e as RPCError {
            return e
        } catch {
            Issue.record("not an RPCError: \(error)")
            return nil
        }
    }

    static func text(bytes n: Int) -> String { String(repeating: "x", count: n) }

    @Test func hello() {
        func hello(_ id: String, _ capacity: Int, leases: Int = 0) -> RPCError? {
            Self.refusal {
                try AgentHello.Params(
                    agentId: id, capacity: capacity, version: "t",
                    leases: (0..<leases).map { HeldLease(jobId: Int64($0), leaseToken: "t") }
                ).validate()
            }
        }
        #expect(hello(Self.text(bytes: 64), 1) == nil)
        #expect(hello("a.b_c@d:e-1", 1000, leases: 1000) == nil)
        #expect(hello(Self.text(bytes: 65), 1)?.message == "agentId must be 1…64 characters of [A-Za-z0-9._@:-]")
        #expect(hello("", 1)?.code == RPCErrorCode.validationFailed.number)
        #expect(hello("a b", 1)?.code == RPCErrorCode.validationFailed.number)
        #expect(hello("a", 0)?.message == "capacity must be 1…1000")
        #expect(hello("a", 1001)?.message == "capacity must be 1…1000")
        #expect(hello("a", 1, leases: 1001)?.message == "at most 1000 held leases")
    }

    @Test func leaseAndReports() {
        #expect(Self.refusal { try LeaseJobs.Params(max: 1).validate() } == nil)
        #expect(Self.refusal { try LeaseJobs.Params(max: 1000).validate() } == nil)
        #expect(Self.refusal { try LeaseJobs.Params(max: 0).validate() }?.message == "max must be 1…1000")
        #expect(Self.refusal { try LeaseJobs.Params(max: 1001).validate() }?.message == "max must be 1…1000")
        let fail = { (error: String) in
            FailJob.Params(jobId: 1, leaseToken: "t", retryable: false, error: error, outcome: nil, call: nil)
        }
        #expect(Self.refusal { try fail(Self.text(bytes: 2000)).validate() } == nil)
        #expect(Self.refusal { try fail(Self.text(bytes: 2001)).validate() }?.message == "error must be 1…2000 bytes")
        #expect(Self.refusal { try fail("").validate() }?.message == "error must be 1…2000 bytes")
        let skip = { (reason: String) in SkipJob.Params(jobId: 1, leaseToken: "t", reason: reason) }
        #expect(Self.refusal { try skip(Self.text(bytes: 200)).validate() } == nil)
        #expect(Self.refusal { try skip(Self.text(bytes: 201)).validate() }?.message == "reason must be 1…200 bytes")
        let badCall = CallRecord(
            provider: "", providerCallId: nil, idempotencyKey: "k#1", startedAt: nil, endedAt: nil, outcome: .answered,
            durationMs: nil, detail: nil)
        #expect(
            Self.refusal { try CompleteJob.Params(jobId: 1, leaseToken: "t", outcome: .answered, call: badCall).validate() }?
                .message == "call.provider must be 1…64 bytes")
        // jobs.report: the count; each report on its own, exactly one kind.
        #expect(Self.refusal { try ReportJobs.Params(reports: []).validate() }?.message == "give 1…\(ReportJobs.maximumReports) reports")
        #expect(Self.refusal { try JobReport(skip: skip("ok")).validate() } == nil)
        #expect(Self.refusal { try JobReport(fail: fail(""), skip: skip("ok")).validate() }?.message == "a report has exactly one of complete, fail, skip")
        #expect(Self.refusal { try JobReport().validate() }?.message == "a report has exactly one of complete, fail, skip")
        #expect(Self.refusal { try JobReport(skip: skip("")).validate() }?.message == "reason must be 1…200 bytes")
    }

    @Test func adminParams() {
        #expect(Self.refusal { try RetryJobs.Params(ids: [1], attempts: 100).validate() } == nil)
        #expect(Self.refusal { try RetryJobs.Params(ids: [1], attempts: 101).validate() }?.message == "attempts must be 1…100")
        #expect(Self.refusal { try RetryJobs.Params(ids: [], attempts: nil).validate() }?.message == "give 1…1000 job ids")
        #expect(Self.refusal { try CancelJobs.Params(ids: Array(1...1000)).validate() } == nil)
        #expect(Self.refusal { try CancelJobs.Params(ids: Array(1...1001)).validate() }?.message == "give 1…1000 job ids")
        #expect(Self.refusal { try GetJob.Params().validate() }?.code == RPCErrorCode.invalidParams.number)
        #expect(Self.refusal { try GetJob.Params(id: 1, queueJobId: "q").validate() }?.code == RPCErrorCode.invalidParams.number)
        #expect(Self.refusal { try GetJob.Params(queueJobId: "q").validate() } == nil)
        #expect(Self.refusal { try ListJobs.Params(cursor: "12").validate() } == nil)
        #expect(Self.refusal { try ListJobs.Params(cursor: "x").validate() }?.message == "invalid params: bad cursor")
        #expect(
            Self.refusal { try ListJobs.Params(updatedSince: "yesterday").validate() }?.message
                == "updatedSince must be an RFC 3339 timestamp with a timezone")
        #expect(Self.refusal { try ListJobs.Params(updatedBefore: "2026-12-01T10:00:00Z").validate() } == nil)
        #expect(Self.refusal { try ListJobs.Params(reason: "").validate() }?.message == "reason must be 1…200 bytes")
        #expect(Self.refusal { try ListCustomers.Params(cursor: "-").validate() }?.code == RPCErrorCode.invalidParams.number)
        #expect(Self.refusal { try GetCustomer.Params(externalRef: "c").validate() } == nil)
        #expect(Self.refusal { try GetCustomer.Params().validate() }?.code == RPCErrorCode.invalidParams.number)
    }
}
