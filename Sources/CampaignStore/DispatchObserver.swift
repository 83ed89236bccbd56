import CampaignCore
import CampaignProtocol

/// What a committed batch of the dispatch path did, for metrics: the store alone knows each
/// job's campaign and which call logs were new, and tells an observer once the batch committed
/// (a batch that rolled back did nothing and is not told).
public struct DispatchFacts: Sendable, Equatable {
    /// A call log written by the batch (a resent report's call, already logged, is not here again).
    public struct Call: Sendable, Equatable {
        public var campaignId: Int64
        public var outcome: String
        public var durationSeconds: Double?
    }

    /// A pre-dial check that said no: refused (SKIPPED with the rule) or deferred ("not yet").
    public struct Refusal: Sendable, Equatable {
        public var campaignId: Int64
        public var rule: String
    }

    public var calls: [Call] = []
    public var refusals: [Refusal] = []
    /// Pre-dial checks and leases held back by a provider limit (told to ask again later).
    public var providerLimitWaits = 0
    /// For each job leased: seconds from when it was due (`run_at`) to the lease.
    public var pickupSeconds: [Double] = []

    public var isEmpty: Bool {
        self.calls.isEmpty && self.refusals.isEmpty && self.providerLimitWaits == 0 && self.pickupSeconds.isEmpty
    }
}

/// Told what each committed batch of leases and agent requests did (the coordinator's metrics).
/// Called on the batch's task, after the commit: keep it quick.
public protocol DispatchObserver: Sendable {
    func committed(_ facts: DispatchFacts)
}
