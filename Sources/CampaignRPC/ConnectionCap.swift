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
        return Self.victim(among: open, newcomerPrivileged: newcomerPrivileged).map { .displace($0) } ?? .refuse
    }

    /// Who gives way to a newcomer (nil: nobody may), by rules 1 and 2.
    public static func victim(among open: some Collection<Entry>, newcomerPrivileged: Bool) -> UInt64? {
        if let silent = open.filter({ !$0.spoke }).min(by: { $0.id < $1.id }) { return silent.id }
        if newcomerPrivileged, let reader = open.filter({ !$0.privileged }).min(by: { $0.id < $1.id }) {
            return reader.id
        }
        return nil
    }
}

/// The server's open connections and their channels, under a lock, deciding at the cap.
///
/// A connection is counted the moment it is accepted (``accepted(_:)``, on its event loop, before
/// anything else runs for it): connections accepted but not served yet hold descriptors too, and
/// a flood counted only once served ran the process out of descriptors before the cap was felt.
/// At accept only rule 1 of ``ConnectionCap`` can apply (its peer is not known yet); when nothing
/// silent can give way, the newcomer waits for ``identify(_:privileged:)`` with its peer.
final class ConnectionTable: Sendable {
    private struct Open {
        var entry: ConnectionCap.Entry
        /// Accepted at the cap with nothing silent to give way: decided once its peer is known.
        var pending: Bool
        let channel: any Channel
    }

    private struct State {
        var open: [UInt64: Open] = [:]
        var ids: [ObjectIdentifier: UInt64] = [:]
        var lastID: UInt64 = 0
        /// The most connections open since memory was last handed back (``closed(_:)``).
        var peak = 0
    }

    private let cap: ConnectionCap?
    private let state = NIOLockedValueBox(State())

    init(cap: ConnectionCap?) {
        self.cap = cap
    }

    var count: Int { self.state.withLockedValue { $0.open.count } }

    /// Counts a connection just accepted, closing the oldest silent one when at the cap (then
    /// answers true).
    @discardableResult
    func accepted(_ channel: any Channel) -> Bool {
        let (id, victim) = self.state.withLockedValue { s -> (UInt64, (any Channel)?) in
            s.lastID += 1
            let id = s.lastID
            s.ids[ObjectIdentifier(channel)] = id
            let decision = self.decide(s.open, newcomerPrivileged: false)
            var victim: (any Channel)?
            if case .displace(let v) = decision { victim = s.open.removeValue(forKey: v)?.channel }
            s.open[id] = Open(
                entry: .init(id: id, spoke: false, privileged: false), pending: decision == .refuse, channel: channel)
            s.peak = max(s.peak, s.open.count)
            return (id, victim)
        }
        victim?.close(promise: nil)
        // Forgotten when it closes, however that happens (also one never served).
        let key = ObjectIdentifier(channel)
        channel.closeFuture.whenComplete { _ in
            if self.closed(id, key) {
                // Many connections went (a flood, a fleet restart): give their buffers' memory back.
                MemoryTrim.release()
            }
        }
        return victim != nil
    }

    /// What becomes of a connection once its peer is known.
    enum Verdict: Equatable {
        /// It stays (`decision`: `admit`, or `displace` when another went for it now).
        case serve(ConnectionCap.Decision)
        /// It must go: at the cap, and nobody may give way.
        case refuse
        /// It was displaced, or closed, before it was served.
        case gone
    }

    /// The connection's id (from ``accepted(_:)``) and, its peer now known, what becomes of it.
    func identify(_ channel: any Channel, privileged: Bool) -> (id: UInt64, verdict: Verdict) {
        let (id, verdict, victim) = self.state.withLockedValue { s -> (UInt64, Verdict, (any Channel)?) in
            // Not there: it closed (and was forgotten) before it was served.
            guard let id = s.ids.removeValue(forKey: ObjectIdentifier(channel)) else { return (0, .gone, nil) }
            guard var me = s.open[id] else { return (id, .gone, nil) }
            me.entry.privileged = privileged
            guard me.pending else {
                s.open[id] = me
                return (id, .serve(.admit), nil)
            }
            var others = s.open
            others.removeValue(forKey: id)
            let decision = self.decide(others, newcomerPrivileged: privileged)
            var victim: (any Channel)?
            switch decision {
            case .refuse:
                s.open.removeValue(forKey: id)
                return (id, .refuse, nil)
            case .displace(let v):
                victim = s.open.removeValue(forKey: v)?.channel
            case .admit:
                break
            }
            me.pending = false
            s.open[id] = me
            return (id, .serve(decision), victim)
        }
        victim?.close(promise: nil)
        return (id, verdict)
    }

    /// The cap's decision among `open` (pending connections never give way: they are being decided).
    private func decide(_ open: [UInt64: Open], newcomerPrivileged: Bool) -> ConnectionCap.Decision {
        guard let cap = self.cap, open.count >= cap.limit else { return .admit }
        let candidates = open.values.lazy.filter { !$0.pending }.map(\.entry)
        return ConnectionCap.victim(among: candidates, newcomerPrivileged: newcomerPrivileged).map { .displace($0) } ?? .refuse
    }

    /// The connection sent its first complete request.
    func spoke(_ id: UInt64) {
        self.state.withLockedValue { $0.open[id]?.entry.spoke = true }
    }

    /// Forgets a closed connection. Answers true when the connections open fell to half of a
    /// peak of at least 64 since the last time it said so: a flood went, and the memory of its
    /// buffers may be handed back to the system (`malloc_trim`; glibc keeps freed heap otherwise).
    private func closed(_ id: UInt64, _ key: ObjectIdentifier) -> Bool {
        self.state.withLockedValue { s in
            s.open.removeValue(forKey: id)
            if s.ids[key] == id { s.ids.removeValue(forKey: key) }
            guard s.peak >= 64, s.open.count <= s.peak / 2 else { return false }
            s.peak = s.open.count
            return true
        }
    }
}
