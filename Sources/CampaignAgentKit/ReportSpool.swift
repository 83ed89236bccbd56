import CampaignProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reports not yet delivered, kept on disk so that a killed or restarted agent still delivers
/// what it learned of its calls (the coordinator accepts a late report with the lease's token,
/// also after the lease ran out: DESIGN §4). One file per job, written atomically (temp file,
/// fsync, rename) before the first delivery attempt and removed once the coordinator settled it.
public final class ReportSpool: Sendable {
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

    func save(_ report: AgentRunner.Report) throws {
        let entry: Entry
        let jobId: Int64
        switch report {
        case .complete(let p): (entry, jobId) = (Entry(complete: p), p.jobId)
        case .fail(let p): (entry, jobId) = (Entry(fail: p), p.jobId)
        }
        let data = try JSONEncoder().encode(entry)
        let target = self.path(jobId)
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
        let names = (try? FileManager.default.contentsOfDirectory(atPath: self.directory)) ?? []
        var reports: [(Int64, AgentRunner.Report)] = []
        for name in names where name.hasPrefix("report-") && name.hasSuffix(".json") {
            let path = "\(self.directory)/\(name)"
            guard let data = FileManager.default.contents(atPath: path),
                let entry = try? JSONDecoder().decode(Entry.self, from: data)
            else {
                rename(path, path + ".bad")
                continue
            }
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
