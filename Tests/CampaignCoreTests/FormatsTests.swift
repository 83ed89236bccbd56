import CampaignCore
import Testing

/// The formats that name things across processes: written one way, read back the same way.
@Suite("Formats")
struct FormatsTests {
    @Test("an idempotency key is <queueJobId>#<attempt>, read back only against its own job", arguments: [
        ("q-1:2026-11-29", 1), ("a#b", 3), ("", 7), ("x", 100),
    ])
    func idempotencyKeyRoundTrip(_ queueJobId: String, _ attempt: Int) {
        let key = IdempotencyKey(queueJobId: queueJobId, attempt: attempt).description
        #expect(key == "\(queueJobId)#\(attempt)")
        #expect(IdempotencyKey.attempt(of: key, queueJobId: queueJobId) == attempt)
        #expect(IdempotencyKey.attempt(of: key, queueJobId: queueJobId + "x") == nil, "another job's key")
    }

    @Test("keys that are not an attempt of the job are refused", arguments: [
        "q#0", "q#-1", "q#", "q", "q#1x", "r#1", "q1", "#1", "q##1", "q#99999999999999999999",
    ])
    func idempotencyKeyRefusals(_ key: String) {
        #expect(IdempotencyKey.attempt(of: key, queueJobId: "q") == nil)
    }

    @Test("a queue job id holding '#' keeps its own attempts apart")
    func idempotencyKeyWithHash() {
        #expect(IdempotencyKey.attempt(of: "a#1#2", queueJobId: "a#1") == 2)
        #expect(IdempotencyKey.attempt(of: "a#1#2", queueJobId: "a") == nil)
    }

    @Test("a lease owner is <agentId>@<coordinatorId>#<connectionId>")
    func leaseOwner() {
        #expect(LeaseOwner(agentId: "agent-1", coordinatorId: "c1", connectionId: 42).description == "agent-1@c1#42")
        #expect(LeaseOwner(agentId: "a@b", coordinatorId: "c", connectionId: 0).description == "a@b@c#0")
    }

    @Test("an automatic queue job id is <externalRef>:<date>")
    func automaticQueueJobID() {
        #expect(AutomaticQueueJobID(externalRef: "cust-0001", date: "2026-12-01").description == "cust-0001:2026-12-01")
    }

    @Test("the automatic form is recognised, and only it", arguments: [
        ("cust-1:2026-12-01", true), ("a:b:2026-12-01", true), (":2026-12-01", false), ("x:2026-1-01", false),
        ("x2026-12-01", false), ("x:2026-12-0a", false), ("x:2026-12-01 ", false), ("x:2026/12/01", false),
        ("manual-1", false), ("", false),
    ])
    func automaticForm(_ id: String, _ automatic: Bool) {
        #expect(AutomaticQueueJobID.hasForm(id) == automatic)
    }

    @Test("every automatic queue job id has the automatic form")
    func automaticIDsHaveTheForm() {
        for ref in ["c", "cust-0001", "a:b", "ü"] {
            #expect(AutomaticQueueJobID.hasForm(AutomaticQueueJobID(externalRef: ref, date: "2026-02-28").description))
        }
    }
}
