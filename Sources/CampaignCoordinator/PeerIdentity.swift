import CampaignRPC
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Looks up what the system's user and group databases say of a peer (NSS: /etc/passwd,
/// /etc/group, …): its user name and every group it belongs to, as at login. Also the systemd
/// unit its process runs in.
enum PeerIdentity {
    static func resolve(_ c: PeerCredentials) -> AccessPolicy.Peer {
        var peer = AccessPolicy.Peer(uid: c.uid, gids: [c.gid])
        peer.userName = self.userName(c.uid)
        if let name = peer.userName {
            for g in self.groups(of: name, primary: c.gid) { peer.gids.insert(g) }
        }
        for g in peer.gids {
            if let n = self.groupName(g) { peer.groupNames.insert(n) }
        }
        return peer
    }

    static func userName(_ uid: UInt32) -> String? {
        var pwd = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(uid, &pwd, &buffer, buffer.count, &result) == 0, result != nil, let name = pwd.pw_name else {
            return nil
        }
        return String(cString: name)
    }

    static func groupName(_ gid: UInt32) -> String? {
        var grp = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getgrgid_r(gid, &grp, &buffer, buffer.count, &result) == 0, result != nil, let name = grp.gr_name else {
            return nil
        }
        return String(cString: name)
    }

    static func groups(of user: String, primary: UInt32) -> [UInt32] {
        var count: Int32 = 64
        var gids = [gid_t](repeating: 0, count: Int(count))
        if getgrouplist(user, primary, &gids, &count) == -1 {
            gids = [gid_t](repeating: 0, count: Int(count))
            guard getgrouplist(user, primary, &gids, &count) != -1 else { return [] }
        }
        return Array(gids.prefix(Int(count)))
    }

    /// The systemd unit of a process (`campaign-agent@1.service`), from `/proc/<pid>/cgroup`.
    static func unit(pid: Int32) -> String? {
        guard pid > 0, let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        // cgroup v2: "0::/system.slice/campaign-agent@1.service"
        for line in text.split(separator: "\n") {
            let path = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false).last ?? ""
            for component in path.split(separator: "/").reversed()
            where component.hasSuffix(".service") || component.hasSuffix(".scope") {
                return String(component)
            }
        }
        return nil
    }
}
