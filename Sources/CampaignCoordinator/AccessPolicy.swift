import CampaignCore
import CampaignProtocol
import Foundation

/// Maps a connection's peer (SO_PEERCRED, DESIGN §6) to a role, by the first matching rule of
/// a configured list such as `root=admin,group:campaign-admin=admin,user:campaign=agent,*=reader`.
/// Pure: the peer's names and groups are looked up by ``PeerIdentity``.
public struct AccessPolicy: Sendable, Equatable, CustomStringConvertible {
    public enum Subject: Sendable, Equatable {
        case root
        /// The coordinator's own user.
        case ownUser
        case uid(UInt32)
        case user(String)
        /// The peer's primary group or one of its supplementary groups.
        case gid(UInt32)
        case group(String)
        case anyone
    }

    public struct Rule: Sendable, Equatable {
        public var subject: Subject
        /// nil: `none`, no method at all.
        public var role: AccessRole?
    }

    /// What is known of a peer.
    public struct Peer: Sendable, Equatable {
        public var uid: UInt32
        public var userName: String?
        /// Primary and supplementary group ids, and their names where known.
        public var gids: Set<UInt32>
        public var groupNames: Set<String>

        public init(uid: UInt32, userName: String? = nil, gids: Set<UInt32> = [], groupNames: Set<String> = []) {
            self.uid = uid
            self.userName = userName
            self.gids = gids
            self.groupNames = groupNames
        }
    }

    public var rules: [Rule]

    /// Root and members of `campaign-admin` administer; the `campaign` user (the agents' under
    /// the shipped units) is an agent; whoever started the coordinator by hand administers it;
    /// anyone else who can open the socket (mode 0660, group `campaign`) reads.
    public static let defaultText = "root=admin,group:campaign-admin=admin,user:campaign=agent,self=admin,*=reader"
    public static let `default` = try! AccessPolicy.parse(defaultText)

    public init(rules: [Rule]) {
        self.rules = rules
    }

    /// The role of a peer, nil for none. A nil peer (the socket could not say who it is) matches
    /// only `*` rules.
    public func role(of peer: Peer?, ownUID: UInt32) -> AccessRole? {
        for rule in self.rules where Self.matches(rule.subject, peer, ownUID: ownUID) { return rule.role }
        return nil
    }

    static func matches(_ subject: Subject, _ peer: Peer?, ownUID: UInt32) -> Bool {
        if case .anyone = subject { return true }
        guard let peer else { return false }
        switch subject {
        case .root: return peer.uid == 0
        case .ownUser: return peer.uid == ownUID
        case .uid(let u): return peer.uid == u
        case .user(let name): return peer.userName == name
        case .gid(let g): return peer.gids.contains(g)
        case .group(let name): return peer.groupNames.contains(name)
        case .anyone: return true
        }
    }

    /// Reads `WHO=ROLE,…` with WHO one of `root`, `self`, `uid:N`, `user:NAME`, `gid:N`,
    /// `group:NAME`, `*` and ROLE one of `admin`, `agent`, `reader`, `none`. First match wins;
    /// a peer no rule matches (or matched by `none`) may call nothing.
    public static func parse(_ text: String) throws(ConfigurationError) -> AccessPolicy {
        var rules: [Rule] = []
        for (who, roleText) in try KeyValueList.parse(text) {
            let role: AccessRole?
            switch roleText.lowercased() {
            case "none": role = nil
            default:
                guard let r = AccessRole(rawValue: roleText.lowercased()) else {
                    throw ConfigurationError("unknown role \(roleText) for \(who) (admin, agent, reader or none)")
                }
                role = r
            }
            let subject: Subject
            let parts = who.split(separator: ":", maxSplits: 1).map(String.init)
            switch (parts[0].lowercased(), parts.count == 2 ? parts[1] : nil) {
            case ("root", nil): subject = .root
            case ("self", nil): subject = .ownUser
            case ("*", nil): subject = .anyone
            case ("uid", let v?):
                guard let n = UInt32(v) else { throw ConfigurationError("uid:\(v) is not a number") }
                subject = .uid(n)
            case ("gid", let v?):
                guard let n = UInt32(v) else { throw ConfigurationError("gid:\(v) is not a number") }
                subject = .gid(n)
            case ("user", let v?) where !v.isEmpty: subject = .user(v)
            case ("group", let v?) where !v.isEmpty: subject = .group(v)
            default:
                throw ConfigurationError("unknown subject \(who) (root, self, uid:N, user:NAME, gid:N, group:NAME or *)")
            }
            rules.append(Rule(subject: subject, role: role))
        }
        return AccessPolicy(rules: rules)
    }

    public var description: String {
        self.rules.map { rule in
            let who: String
            switch rule.subject {
            case .root: who = "root"
            case .ownUser: who = "self"
            case .uid(let u): who = "uid:\(u)"
            case .user(let n): who = "user:\(n)"
            case .gid(let g): who = "gid:\(g)"
            case .group(let n): who = "group:\(n)"
            case .anyone: who = "*"
            }
            return "\(who)=\(rule.role?.rawValue ?? "none")"
        }.joined(separator: ",")
    }
}
