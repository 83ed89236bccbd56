import CampaignCore
import CampaignProtocol

/// What a placer is asked to do: call one customer, once, under one idempotency key.
public struct CallRequest: Sendable, Equatable {
    public var job: LeasedJob
    /// `<queueJobId>#<attempt>`; the provider must never place two calls for one key.
    public var idempotencyKey: String

    public init(job: LeasedJob, idempotencyKey: String) {
        self.job = job
        self.idempotencyKey = idempotencyKey
    }
}

/// What a placer knows when the call is over.
public struct PlacedCall: Sendable, Equatable {
    public var outcome: CallOutcome
    public var providerCallId: String?
    public var durationMs: Int?
    public var detail: JSONValue?

    public init(outcome: CallOutcome, providerCallId: String? = nil, durationMs: Int? = nil, detail: JSONValue? = nil) {
        self.outcome = outcome
        self.providerCallId = providerCallId
        self.durationMs = durationMs
        self.detail = detail
    }
}

/// A backend that places calls (DESIGN §8). It never throws: whatever goes wrong becomes an
/// outcome (usually `FAILED` with a detail), because the job must be reported either way.
public protocol Placer: Sendable {
    /// Short provider name for call logs (`simulate`, `exec`, `http`).
    var provider: String { get }
    func place(_ request: CallRequest) async -> PlacedCall
}
