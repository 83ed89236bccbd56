/// Who holds a lease, `<agentId>@<coordinatorId>#<connectionId>`: one agent on one connection to
/// one coordinator, so a lease never outlives the connection it was given on without being
/// adopted (`agent.hello` with the held leases) or released.
public struct LeaseOwner: Hashable, Sendable, CustomStringConvertible {
    public let agentId: String
    public let coordinatorId: String
    public let connectionId: UInt64

    public init(agentId: String, coordinatorId: String, connectionId: UInt64) {
        self.agentId = agentId
        self.coordinatorId = coordinatorId
        self.connectionId = connectionId
    }

    public var description: String { "\(self.agentId)@\(self.coordinatorId)#\(self.connectionId)" }
}
