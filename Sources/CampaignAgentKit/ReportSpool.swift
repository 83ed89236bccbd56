import CampaignProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reports not yet delivered, kept on disk so that a killed or restarted agent still delivers
/// what it learned of its calls (the coordinator accepts a late report with the lease's token,
/// also after the lease ran out: DESIGN §4). One file per job, written atomically (temp file,
/// fsync, rename) before the first delivery attempt and removed once the coordinator settled it.
///
/// Calls the provider accepted and that have not ended are kept the same way (`call-<job>.json`,
/// written the moment the acceptance arrives, removed once the call's report is spooled), so
/// that a restarted agent goes on following them without a second `POST` (issue 16).
public final class ReportSpool: Sendable {
    /// A call in progress at the provider, as spooled.
    struct Call: Codable, Sendable, Equatable {
        var job: LeasedJob
        var idempotencyKey: String
        var accepted: AcceptedCall
        /// When the call was started (RFC 3339), for its call log and its hard limit.
        var startedAt: String
    }

    /// What is spooled: exactly one of the two.
    struct Entry: Codable, Sendable {
        var complete: CompleteJob.Params?
        var fail: FailJob.Params?
    }

    public let directory: String

    /// Creates the directory if needed.
    public init(directory: String) throws {
        self.directory = directory
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func path(_ jobId: Int64) -> String { "\(self.directory)/report-\(jobId).json" }
    func callPath(_ jobId: Int64) -> String { "\(self.directory)/call-\(jobId).json" }

    func save(_ report: AgentRunner.Report) throws {
        let entry: Entry
        let jobId: Int64
        switch report {
        case .complete(let p): (entry, jobId) = (Entry(complete: p), p.jobId)
        case .fail(let p): (entry, jobId) = (Entry(fail: p), p.jobId)
        }
        try Self.writeDurably(try JSONEncoder().encode(entry), to: self.path(jobId))
        // The report supersedes the call it ends: a restart delivers it rather than follow the call.
        unlink(self.callPath(jobId))
    }

    /// Spools a call the provider has just accepted.
    func saveCall(_ call: Call) throws {
        try Self.writeDurably(try JSONEncoder().encode(call), to: self.callPath(call.job.jobId))
    }

    /// The calls an earlier run was following, without a report yet, oldest job first. An
    /// unreadable file is renamed `*.bad` and skipped.
    func pendingCalls() -> [Call] {
        var calls: [Call] = []
        for (path, call) in self.files("call-", as: Call.self) {
            if access(self.path(call.job.jobId), F_OK) == 0 {
                unlink(path)  // its report was spooled (a kill between the two writes)
                continue
            }
            calls.append(call)
        }
        return calls.sorted { $0.job.jobId < $1.job.jobId }
    }

    /// The spool's `<prefix>*.json` files, decoded; one that cannot be read is renamed `*.bad`
    /// (kept for a human) and skipped.
    private func files<T: Decodable>(_ prefix: String, as type: T.Type) -> [(path: String, value: T)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: self.directory)) ?? []
        var out: [(path: String, value: T)] = []
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".json") {
            let path = "\(self.directory)/\(name)"
            guard let data = FileManager.default.contents(atPath: path), let value = try? JSONDecoder().decode(T.self, from: data)
            else {
                rename(path, path + ".bad")
                continue
            }
            out.append((path, value))
        }
        return out
    }

    /// Writes `data` to `target` atomically: a temp file, fsynced, renamed into place. (The
    /// directory is not fsynced: a host crash may lose the last rename, and with it a report or
    /// a call, which then ends `outcome_unknown` and is settled by a lookup.)
    static func writeDurably(_ data: Data, to target: String) throws {
        let temp = target + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SystemCallError(temp, errno: errno) }
        defer { close(fd) }
        let written = data.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == data.count, fsync(fd) == 0 else { throw SystemCallError(temp, errno: errno) }
        guard rename(temp, target) == 0 else { throw SystemCallError(target, errno: errno) }
    }

    func remove(_ jobId: Int64) {
        unlink(self.path(jobId))
    }

    /// The reports left by an earlier run, oldest job first. An unreadable file is renamed
    /// `*.bad` (kept for a human) and skipped.
    func pending() -> [AgentRunner.Report] {
        var reports: [(Int64, AgentRunner.Report)] = []
        for (path, entry) in self.files("report-", as: Entry.self) {
            if let p = entry.complete {
                reports.append((p.jobId, .complete(p)))
            } else if let p = entry.fail {
                reports.append((p.jobId, .fail(p)))
            } else {
                rename(path, path + ".bad")
            }
        }
        return reports.sorted { $0.0 < $1.0 }.map(\.1)
    }
}

/// A failed system call: what it was about, and errno.
struct SystemCallError: Error, CustomStringConvertible {
    var what: String
    var errno: Int32
    init(_ what: String, errno: Int32) {
        self.what = what
        self.errno = errno
    }
    var description: String { "\(self.what): \(String(cString: strerror(self.errno)))" }
}
