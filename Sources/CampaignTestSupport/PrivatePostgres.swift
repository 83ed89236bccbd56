import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL cluster of one test's own, started with `scripts/lib/common.sh` as `scripts/test`
/// starts the suite's: for tests that do to the server what the suite's shared one must not
/// suffer, such as freezing every process of it (issue 17).
public final class PrivatePostgres: Sendable {
    /// The cluster's directory (socket, data, log).
    public let directory: String
    /// A URL of its `campaign` database.
    public let url: String

    struct StartFailed: Error, CustomStringConvertible {
        let output: String
        var description: String { "cannot start a private PostgreSQL:\n\(self.output)" }
    }

    /// The repository's `scripts/lib/common.sh`.
    static let common = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/lib/common.sh").path

    private init(directory: String, url: String) {
        self.directory = directory
        self.url = url
    }

    /// initdb, start, and a `campaign` database (a few seconds, off the cooperative threads).
    public static func start() async throws -> PrivatePostgres {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("campaign-pg-\(UUID().uuidString.prefix(8))").path
        let (urlFile, logFile) = (dir + ".url", dir + ".log")
        defer { for f in [urlFile, logFile] { try? FileManager.default.removeItem(atPath: f) } }
        // Output to files, and every other descriptor closed: the server started inside inherits
        // what the shell has open, and a pipe or Foundation's exit-watching socket it kept would
        // make this process wait for the server's end.
        let script = """
            exec >"\(logFile)" 2>&1 </dev/null
            for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done 2>/dev/null
            source "\(Self.common)" && start_private_postgres "\(dir)" && trap - EXIT && printf '%s' "$CAMPAIGN_DATABASE_URL" >"\(urlFile)"
            """
        let (status, _, _) = try await runToCompletion("/bin/bash", ["-c", script])
        let url = (try? String(contentsOfFile: urlFile, encoding: .utf8)) ?? ""
        guard status == 0, !url.isEmpty else {
            throw StartFailed(output: (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "exit \(status)")
        }
        return PrivatePostgres(directory: dir, url: url)
    }

    /// The postmaster's pid and its children's (the backends and the auxiliary processes).
    public func processes() -> [pid_t] {
        guard let text = try? String(contentsOfFile: self.directory + "/data/postmaster.pid", encoding: .utf8),
            let first = text.split(separator: "\n").first, let postmaster = pid_t(first)
        else { return [] }
        var pids = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // After the command: state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, pid_t(fields[1]) == postmaster { pids.append(pid) }
        }
        return pids
    }

    /// Stops every process of the server (SIGSTOP): connections stay open, nothing answers —
    /// what a stuck disk or a partition looks like from the clients. Answers the pids stopped.
    @discardableResult
    public func freeze() -> [pid_t] {
        let pids = self.processes()
        for pid in pids { kill(pid, SIGSTOP) }
        return pids
    }

    /// Lets them go on (SIGCONT).
    public func thaw(_ pids: [pid_t]) {
        for pid in pids { kill(pid, SIGCONT) }
    }

    /// Stops the server (immediate) and removes its directory.
    public func stop() async {
        let script = """
            exec >/dev/null 2>&1 </dev/null
            source "\(Self.common)" && _campaign_pg_dir="\(self.directory)" && _campaign_pg_bin=$(pg_bin_dir) && stop_private_postgres
            """
        _ = try? await runToCompletion("/bin/bash", ["-c", script])
    }
}
