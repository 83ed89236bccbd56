import NIOConcurrencyHelpers
import NIOCore

/// Which connection gives way when a new one arrives with the server at its cap (issue 17).
///
/// The cap keeps descriptors for PostgreSQL and the rest of the process; what happens at it must
/// keep the system operable, so a flood of idle or half-written connections can never lock out an
/// operator's `campaign-ctl` or an agent that reconnects:
///
/// 1. The oldest connection that has not sent a complete request goes (a silent or slow-loris
///    client, or one that is about to speak: it sees the close and may retry).
/// 2. Else, if the newcomer is privileged (an admin or an agent by its peer credentials), the
///    oldest connection that is not privileged goes (a reader: a dashboard, a subscriber).
/// 3. Else the newcomer is refused: told so in one JSON-RPC error line, then closed. Connections
///    that talk are never dropped for a reader.
///
/// Privileged connections that talk are never displaced: when all of the cap is admins and agents,
/// a newcomer is refused, whoever it is.
public struct ConnectionCap: Sendable, Equatable {
    /// An open connection as the cap sees it.
    public struct Entry: Sendable, Equatable {
        public var id: UInt64
        /// It has sent at least one complete request.
        public var spoke: Bool
        /// Its peer is an admin or an agent.
        public var privileged: Bool
        public init(id: UInt64, spoke: Bool, privileged: Bool) {
            self.id = id
            self.spoke = spoke
            self.privileged = privileged
        }
    }

    public enum Decision: Sendable, Equatable {
        /// Below the cap: the newcomer comes in.
        case admit
        /// At the cap: this connection is closed, and the newcomer comes in.
        case displace(UInt64)
        /// At the cap, and nobody may give way.
        case refuse
    }

    public var limit: Int

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// What to do with a newcomer, `open` being the connections open now (oldest = lowest id).
    public func decide(open: some Collection<Entry>, newcomerPrivileged: Bool) -> Decision {
        guard open.count >= self.limit else { return .admit }
        if let silent = open.filter({ !$0.spoke }).min(by: { $0.id < $1.id }) { return .displace(silent.id) }
        if newcomerPrivileged, let reader = open.filter({ !$0.privileged }).min(by: { $0.id < $1.id }) {
            return .displace(reader.id)
        }
        return .refuse
    }
}

/// The server's open connections and their channels, under a lock, deciding at the cap.
final class ConnectionTable: Sendable {
    private struct Open {
        var entry: ConnectionCap.Entry
        let channel: any Channel
    }

    private let cap: ConnectionCap?
    private let open = NIOLockedValueBox<[UInt64: Open]>([:])
    /// The most connections open since memory was last handed back (``closed(_:)``).
    private let peak = NIOLockedValueBox(0)

    init(cap: ConnectionCap?) {
        self.cap = cap
    }

    var count: Int { self.open.withLockedValue { $0.count } }

    /// Admits the connection (closing one that gives way, if it must) or refuses it.
    func admit(_ id: UInt64, channel: any Channel, privileged: Bool) -> ConnectionCap.Decision {
        let (decision, victim) = self.open.withLockedValue { open -> (ConnectionCap.Decision, (any Channel)?) in
            let decision = self.cap?.decide(open: open.values.lazy.map(\.entry), newcomerPrivileged: privileged) ?? .admit
            var victim: (any Channel)?
            switch decision {
            case .refuse: return (decision, nil)
            case .displace(let v): victim = open.removeValue(forKey: v)?.channel
            case .admit: break
            }
            open[id] = Open(entry: .init(id: id, spoke: false, privileged: privileged), channel: channel)
            let count = open.count
            self.peak.withLockedValue { $0 = max($0, count) }
            return (decision, victim)
        }
        victim?.close(promise: nil)
        return decision
    }

    /// The connection sent its first complete request.
    func spoke(_ id: UInt64) {
        self.open.withLockedValue { $0[id]?.entry.spoke = true }
    }

    /// Forgets a closed connection. Answers true when the connections open fell to half of a
    /// peak of at least 64 since the last time it said so: a flood went, and the memory of its
    /// buffers may be handed back to the system (`malloc_trim`; glibc keeps freed heap otherwise).
    func closed(_ id: UInt64) -> Bool {
        let count = self.open.withLockedValue { open -> Int in
            open.removeValue(forKey: id)
            return open.count
        }
        return self.peak.withLockedValue { peak in
            guard peak >= 64, count <= peak / 2 else { return false }
            peak = count
            return true
        }
    }
}
