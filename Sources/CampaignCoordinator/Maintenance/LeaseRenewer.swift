import CampaignStore

/// Extends the leases of the agents connected to this coordinator, in one statement for all of
/// them. Runs on every coordinator (each renews its own agents' leases; a lease whose agent is
/// gone is left to expire).
public struct LeaseRenewer: Sendable {
    private let store: PostgresJobStore
    private let owners: @Sendable () -> [String]

    /// - Parameter owners: the lease owners of the agents connected now.
    public init(store: PostgresJobStore, owners: @escaping @Sendable () -> [String]) {
        self.store = store
        self.owners = owners
    }

    /// Renews every lease of the connected agents for `leaseSeconds`; returns how many jobs' leases.
    @discardableResult
    public func runOnce(leaseSeconds: Int) async throws -> Int {
        try await self.store.renewLeases(owners: self.owners(), leaseSeconds: leaseSeconds)
    }
}
