import CampaignCore
import CampaignProtocol
import Foundation

/// What a placer is asked to do: call one customer, once, under one idempotency key.
public struct CallRequest: Sendable, Equatable {
    public var job: LeasedJob
    /// `<queueJobId>#<attempt>`; the provider must never place two calls for one key.
    public var idempotencyKey: String
    /// The call's hard limit: by then the placer has returned, with what it knows.
    public var deadline: ContinuousClock.Instant
    /// Called by a placer the moment the provider accepted the call, before it does anything
    /// else: the agent spools the call (fsynced) so that a restart goes on following it.
    public var accepted: (@Sendable (AcceptedCall) -> Void)?

    public init(
        job: LeasedJob, idempotencyKey: String, deadline: ContinuousClock.Instant,
        accepted: (@Sendable (AcceptedCall) -> Void)? = nil
    ) {
        self.job = job
        self.idempotencyKey = idempotencyKey
        self.deadline = deadline
        self.accepted = accepted
    }

    public static func == (a: CallRequest, b: CallRequest) -> Bool {
        a.job == b.job && a.idempotencyKey == b.idempotencyKey && a.deadline == b.deadline
    }

    /// The request as the `exec` and `http` placers send it to a provider (see README, "Placing
    /// calls"): the idempotency key, the job and attempt, and the customer with their attributes.
    public var providerBody: JSONValue {
        let c = self.job.customer
        var customer: [String: JSONValue] = [
            "id": .int(c.customerId), "externalRef": .string(c.externalRef), "name": .string(c.name),
            "phone": .string(c.phone), "timezone": .string(c.timezone),
        ]
        if let attributes = c.attributes { customer["attributes"] = attributes }
        var body: [String: JSONValue] = [
            "idempotencyKey": .string(self.idempotencyKey),
            "jobId": .int(self.job.jobId),
            "queueJobId": .string(self.job.queueJobId),
            "attempt": .int(Int64(self.job.attempt)),
            "maxAttempts": .int(Int64(self.job.maxAttempts)),
            "customer": .object(customer),
        ]
        if let reason = self.job.reason { body["reason"] = .string(reason) }
        return .object(body)
    }

    /// Whole seconds left until the deadline (at least 1).
    public var secondsLeft: Int {
        let left = self.deadline - ContinuousClock.now
        return max(1, Int(left.components.seconds))
    }
}

/// What a placer knows when the call is over.
public struct PlacedCall: Sendable, Equatable {
    public var outcome: CallOutcome
    public var providerCallId: String?
    public var durationMs: Int?
    public var detail: JSONValue?
    /// False when the placer cannot tell whether a call reached the customer (the provider took
    /// the request but the call could not be followed to its end, a command was killed at the
    /// limit, …). Such a job is failed for good, never redialed by itself (DESIGN §4).
    public var outcomeKnown: Bool
    /// False when certainly no call was placed (nothing reached the provider, or it refused):
    /// the job fails with outcome `FAILED` but no call log is written.
    public var callPlaced: Bool
    /// The person asked not to be called again (issue 15): the coordinator suppresses the
    /// number with the report, skips its other open jobs and marks its customers OPTED_OUT.
    public var optOut = false

    public init(
        outcome: CallOutcome, providerCallId: String? = nil, durationMs: Int? = nil, detail: JSONValue? = nil,
        outcomeKnown: Bool = true, callPlaced: Bool = true
    ) {
        self.outcome = outcome
        self.providerCallId = providerCallId
        self.durationMs = durationMs
        self.detail = detail
        self.outcomeKnown = outcomeKnown
        self.callPlaced = callPlaced
    }

    /// The `error` of the detail, if any.
    public var error: String? {
        if case .object(let d)? = self.detail, case .string(let e)? = d["error"] { return e }
        return nil
    }

    /// A call that certainly did not happen (nothing reached the provider, or it refused).
    public static func notPlaced(_ error: String, _ more: [String: JSONValue] = [:]) -> PlacedCall {
        var detail = more
        detail["error"] = .string(error)
        return PlacedCall(outcome: .failed, detail: .object(detail), callPlaced: false)
    }

    /// A call that may or may not have happened.
    public static func unknown(_ error: String, providerCallId: String? = nil, _ more: [String: JSONValue] = [:])
        -> PlacedCall
    {
        var detail = more
        detail["error"] = .string(error)
        detail["outcomeKnown"] = .bool(false)
        return PlacedCall(outcome: .failed, providerCallId: providerCallId, detail: .object(detail), outcomeKnown: false)
    }
}

/// A call the provider accepted, as the agent spools it the moment it learns of it: enough to
/// go on following the call after a restart without a second `POST` (issue 16).
public struct AcceptedCall: Codable, Sendable, Equatable {
    public var providerCallId: String
    /// Where the call's status is polled.
    public var statusURL: String

    public init(providerCallId: String, statusURL: String) {
        self.providerCallId = providerCallId
        self.statusURL = statusURL
    }
}

/// What a lookup is asked: what became of a call whose outcome is unknown (issue 16). It never
/// creates a call.
public struct LookupRequest: Sendable, Equatable {
    public var call: UnknownCall
    /// The lookup's hard limit: by then the placer has answered.
    public var deadline: ContinuousClock.Instant

    public init(call: UnknownCall, deadline: ContinuousClock.Instant) {
        self.call = call
        self.deadline = deadline
    }

    /// The call request as the provider got it, with `"lookup": true` and the provider's call id
    /// if one is known: what the `exec` lookup command reads on stdin.
    public var providerBody: JSONValue {
        let c = self.call
        let job = LeasedJob(
            jobId: c.jobId, queueJobId: c.queueJobId, leaseToken: c.leaseToken, attempt: c.attempt,
            maxAttempts: c.maxAttempts, leaseExpiresAt: "", reason: c.reason, customer: c.customer)
        guard case .object(var body) = CallRequest(job: job, idempotencyKey: c.idempotencyKey, deadline: self.deadline)
            .providerBody
        else { return .null }
        body["lookup"] = .bool(true)
        if let id = c.providerCallId { body["providerCallId"] = .string(id) }
        return .object(body)
    }
}

/// What a lookup learnt.
public enum LookupAnswer: Sendable, Equatable {
    /// The provider knows how the call ended.
    case ended(PlacedCall)
    /// The provider says it has no call under the key (or id): none was placed, the one case in
    /// which a redial is safe.
    case notPlaced(String)
    /// Not known, or not yet: the call is still going, the provider did not answer, the lookup
    /// failed. Asked again later.
    case unknown(String)
}

/// A backend that places calls (DESIGN §8). It never throws: whatever goes wrong becomes an
/// outcome (usually `FAILED` with a detail), because the job must be reported either way. It
/// returns by the request's deadline.
public protocol Placer: Sendable {
    /// Short provider name for call logs (`simulate`, `exec`, `http`).
    var provider: String { get }
    func place(_ request: CallRequest) async -> PlacedCall
    /// Whether ``lookup(_:)`` can ask the provider what became of a call.
    var canLookUp: Bool { get }
    /// Asks the provider what became of a call whose outcome is unknown; never creates a call.
    /// Returns by the request's deadline.
    func lookup(_ request: LookupRequest) async -> LookupAnswer
    /// Goes on following a call the provider accepted before the agent restarted, without a
    /// second `POST`; returns by the request's deadline.
    func resume(_ request: CallRequest, following call: AcceptedCall) async -> PlacedCall
    /// Releases what the placer holds (connections); called once when the agent stops.
    func shutdown() async
}

extension Placer {
    public func shutdown() async {}
    public var canLookUp: Bool { false }
    public func lookup(_ request: LookupRequest) async -> LookupAnswer {
        .unknown("the \(self.provider) placer cannot look calls up")
    }
    public func resume(_ request: CallRequest, following call: AcceptedCall) async -> PlacedCall {
        .unknown("the \(self.provider) placer cannot resume following a call", providerCallId: call.providerCallId)
    }
}

/// JSON helpers the placers share.
enum ProviderJSON {
    static func encode(_ value: JSONValue) -> [UInt8] {
        (try? Array(JSONEncoder().encode(value))) ?? Array("{}".utf8)
    }

    static func decodeObject(_ bytes: [UInt8]) -> [String: JSONValue]? {
        guard case .object(let o)? = try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)) else { return nil }
        return o
    }

    /// The first `limit` characters of some bytes, for a detail or a log line.
    static func snippet(_ bytes: [UInt8], limit: Int = 500) -> String {
        let s = String(decoding: bytes.prefix(limit * 4), as: UTF8.self)
        return s.count > limit ? String(s.prefix(limit)) + "…" : s
    }

    /// An integer field given as a JSON number.
    static func int(_ value: JSONValue?) -> Int? {
        switch value {
        case .int(let i)? where i >= 0: return Int(i)
        case .double(let d)? where d.isFinite && d >= 0 && d < 1e15: return Int(d)
        default: return nil
        }
    }

    /// An id given as a string or a number.
    static func id(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s)? where !s.isEmpty: return s
        case .int(let i)?: return String(i)
        default: return nil
        }
    }

    /// Reads an outcome report `{"outcome": …, "providerCallId"?, "durationMs"?, "detail"?, "optOut"?}`.
    static func outcomeReport(_ o: [String: JSONValue]) -> PlacedCall? {
        guard case .string(let s)? = o["outcome"], let outcome = CallOutcome(rawValue: s.uppercased()) else {
            return nil
        }
        var placed = PlacedCall(
            outcome: outcome, providerCallId: Self.id(o["providerCallId"]), durationMs: Self.int(o["durationMs"]),
            detail: o["detail"])
        placed.optOut = o["optOut"] == .bool(true)
        return placed
    }
}
