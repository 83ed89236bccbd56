import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// The connections of this coordinator and the agents among them: the router's connection
/// observer and its gate (the role check every call passes first, DESIGN §6).
///
/// A connection gets its role when it opens (``AccessPolicy`` on its peer credentials); it
/// becomes an agent's session with `agent.hello`. When it closes, its CLAIMED jobs go back to
/// the queue at once (DIALING ones keep their lease: the call may still be running).
public final class AgentSessions: RPCConnectionObserver, RPCGate, Sendable {
    private let sessions = NIOLockedValueBox<[UInt64: AgentSession]>([:])
    /// Each open connection's role, from the moment it opens (nil: it may call nothing).
    private let connections = NIOLockedValueBox<[UInt64: AccessRole?]>([:])
    private let access: AccessPolicy
    private let ownUID: UInt32
    private let signal: LeaseSignal
    private let store: PostgresJobStore
    /// Peers resolved lately, by uid and gid: the user and group databases are files read anew on
    /// every lookup, which a flood of connections from one client would otherwise pay each time.
    private let peers = NIOLockedValueBox<[UInt64: (peer: AccessPolicy.Peer, at: ContinuousClock.Instant)]>([:])
    /// How long a resolved peer is reused (a change of group membership takes effect this late).
    static let peerCacheLifetime = Duration.seconds(5)

    /// Called when an agent connects or disconnects (the executable refreshes `STATUS=` with it).
    public let changed = NIOLockedValueBox<(@Sendable () async -> Void)?>(nil)

    init(access: AccessPolicy, ownUID: UInt32, signal: LeaseSignal, store: PostgresJobStore) {
        self.access = access
        self.ownUID = ownUID
        self.signal = signal
        self.store = store
    }

    /// The agents connected now, in the order they connected.
    public var connected: [AgentSession] {
        self.sessions.withLockedValue { Array($0.values) }.sorted { $0.connectionID < $1.connectionID }
    }

    /// How many agents are connected now.
    public var count: Int { self.sessions.withLockedValue { $0.count } }

    /// True for a peer whose role is agent or admin: at the connection cap it displaces a
    /// reader's connection (``ConnectionCap``).
    public func isPrivileged(_ peer: PeerCredentials?) -> Bool {
        guard let role = self.access.role(of: peer.map(self.resolve), ownUID: self.ownUID) else { return false }
        return role >= .agent
    }

    /// ``PeerIdentity/resolve(_:)``, reused for ``peerCacheLifetime``.
    func resolve(_ credentials: PeerCredentials) -> AccessPolicy.Peer {
        let key = UInt64(credentials.uid) << 32 | UInt64(credentials.gid)
        let now = ContinuousClock.now
        if let hit = self.peers.withLockedValue({ $0[key] }), now - hit.at < Self.peerCacheLifetime { return hit.peer }
        let peer = PeerIdentity.resolve(credentials)
        self.peers.withLockedValue { cache in
            if cache.count > 1024 { cache.removeAll() }
            cache[key] = (peer, now)
        }
        return peer
    }

    /// How many connections are open now.
    var connectionCount: Int { self.connections.withLockedValue { $0.count } }

    /// The role of every open connection.
    var roles: [UInt64: AccessRole?] { self.connections.withLockedValue { $0 } }

    /// The session of the connection a call came on (INVALID_STATE before `agent.hello`).
    func session(_ ctx: RPCContext) throws -> AgentSession {
        guard let s = self.sessions.withLockedValue({ $0[ctx.connectionID] }) else {
            throw RPCError(.invalidState, "call agent.hello first on this connection")
        }
        return s
    }

    /// `agent.hello` made this connection an agent's (again).
    func begin(_ session: AgentSession) {
        self.sessions.withLockedValue { $0[session.connectionID] = session }
    }

    /// One more report accepted on the connection.
    func countReport(_ connectionID: UInt64) {
        self.sessions.withLockedValue { $0[connectionID]?.reports += 1 }
    }

    func announceChange() async {
        await self.changed.withLockedValue({ $0 })?()
    }

    // MARK: RPCGate

    /// Refuses a method the connection's role does not allow (FORBIDDEN).
    public func admit<M: RPCMethod>(_ method: M.Type, _ ctx: RPCContext) throws {
        let role = self.connections.withLockedValue { $0[ctx.connectionID] ?? nil }
        guard let role, role >= M.requiredRole else {
            let who = ctx.peer.map { "uid \($0.uid)" } ?? "an unidentified peer"
            throw RPCError(
                .forbidden, "\(M.name) needs the \(M.requiredRole.rawValue) role; \(who) has \(role?.rawValue ?? "none")",
                details: ["required": .string(M.requiredRole.rawValue), "role": role.map { .string($0.rawValue) } ?? .null])
        }
    }

    // MARK: RPCConnectionObserver

    public func connectionOpened(_ context: RPCContext) async {
        let peer = context.peer.map(self.resolve)
        let role = self.access.role(of: peer, ownUID: self.ownUID)
        self.connections.withLockedValue { _ = $0.updateValue(role, forKey: context.connectionID) }
        context.logger.debug(
            "connection opened",
            metadata: [
                "peer.uid": "\(context.peer.map { String($0.uid) } ?? "?")",
                "peer.pid": "\(context.peer.map { String($0.pid) } ?? "?")", "role": "\(role?.rawValue ?? "none")",
            ])
    }

    public func connectionInputEnded(_ context: RPCContext) async {
        self.signal.connectionInputEnded(context.connectionID)
    }

    public func connectionClosed(_ context: RPCContext) async {
        self.signal.connectionClosed(context.connectionID)
        self.connections.withLockedValue { _ = $0.removeValue(forKey: context.connectionID) }
        guard let session = self.sessions.withLockedValue({ $0.removeValue(forKey: context.connectionID) }) else {
            return
        }
        await self.announceChange()
        do {
            let released = try await self.store.releaseClaimed(owner: session.leaseOwner)
            context.logger.info(
                "agent disconnected", metadata: ["agent.id": "\(session.agentId)", "released": "\(released.count)"])
            if !released.isEmpty { self.signal.notifyAll() }
        } catch {
            // The leases expire on their own; the sweep returns them to the queue.
            context.logger.warning(
                "agent disconnected; releasing its claimed jobs failed, they return at lease expiry",
                metadata: ["agent.id": "\(session.agentId)", "error": "\(error)"])
        }
    }
}
