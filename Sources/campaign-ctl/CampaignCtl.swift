import ArgumentParser
import CampaignProtocol
import CampaignRPC
import Foundation

@main
struct CampaignCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign-ctl",
        abstract: "Administers campaign calls over the coordinator's JSON-RPC socket.",
        subcommands: [
            HealthCommand.self, MetricsCommand.self, AgentsCommand.self, WatchCommand.self, Jobs.self, Calls.self, Customers.self,
            Automation.self, Campaigns.self, SuppressionsCommand.self, EventsCommand.self, PruneCommand.self,
        ])

    /// `--socket` and `--json` are taken before the verb too, as `systemctl` and `kubectl` take
    /// theirs: moved behind it before parsing.
    static func main() async {
        await Self.main(GlobalOptions.hoisted(Array(CommandLine.arguments.dropFirst())))
    }
}

/// Flags every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Coordinator socket (env CAMPAIGN_SOCKET).")
    var socket: String = ProcessInfo.processInfo.environment["CAMPAIGN_SOCKET"] ?? "/run/campaign/coordinator.sock"

    @Flag(help: "Print the JSON result instead of a human summary.")
    var json = false

    /// `arguments` with the global options given before the first verb (`--socket S`,
    /// `--socket=S`, `--json`) moved to the end, where every subcommand parses them (before a
    /// `--`, if there is one, so they are never taken for positional arguments).
    static func hoisted(_ arguments: [String]) -> [String] {
        var rest = arguments[...]
        var moved: [String] = []
        while let first = rest.first, first.hasPrefix("-"), first != "--" {
            if first == "--json" || first.hasPrefix("--socket=") {
                moved.append(first)
                rest = rest.dropFirst()
            } else if first == "--socket", rest.count >= 2 {
                moved += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else {
                break  // --help, --version, or a mistake: left for the parser to answer
            }
        }
        guard !moved.isEmpty else { return arguments }
        var out = Array(rest)
        out.insert(contentsOf: moved, at: out.firstIndex(of: "--") ?? out.endIndex)
        return out
    }

    /// Runs `body` with a connected client; any error is printed on stderr and exits with status 1.
    ///
    /// - Parameter readOnly: the command only reads: if the connection closes before the answer
    ///   (the coordinator restarting; its socket stays open under systemd), it is sent once more.
    func withClient<R: Sendable>(
        readOnly: Bool = false, _ body: @escaping @Sendable (RPCClient) async throws -> R
    ) async throws -> R {
        do {
            do {
                return try await RPCClient.withConnection(socketPath: self.socket, body)
            } catch let error as RPCClientError where readOnly && error.kind == .connectionClosed {
                try await Task.sleep(for: .milliseconds(200))
                return try await RPCClient.withConnection(socketPath: self.socket, body)
            }
        } catch let error as RPCError {
            Output.fail("\(error.message) (\(error.symbol ?? String(error.code)))")
        } catch let error as RPCClientError {
            Output.fail(error.message)
        } catch let error as CtlError {
            Output.fail(error.message)
        }
    }

    func printJSON<T: Encodable>(_ value: T) {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: (try? e.encode(value)) ?? Data(), as: UTF8.self))
    }
}

struct CtlError: Error {
    var message: String
}

enum Output {
    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("campaign-ctl: \(message)\n".utf8))
        exit(1)
    }

    static func table(_ rows: [[String]]) -> String {
        guard let first = rows.first else { return "" }
        var widths = [Int](repeating: 0, count: first.count)
        for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        return rows.map { r in
            r.enumerated().map { i, c in i == r.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
        }.joined(separator: "\n")
    }
}

struct AgentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agents", abstract: "List the agents connected to the coordinator.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let r = try await self.global.withClient(readOnly: true) { try await $0.call(ListAgents.self, NoParams()) }
        if self.global.json { return self.global.printJSON(r) }
        print("\(r.agents.count) agent(s) on coordinator \(r.coordinator)")
        guard !r.agents.isEmpty else { return }
        let rows = r.agents.map { a in
            [
                a.agentId, a.unit ?? "-", a.pid.map(String.init) ?? "-", a.uid.map(String.init) ?? "-", a.role.rawValue,
                "\(a.leasesHeld)/\(a.capacity)", String(a.reports), a.version, a.connectedAt,
            ]
        }
        let header = ["AGENT", "UNIT", "PID", "UID", "ROLE", "LEASES", "REPORTS", "VERSION", "CONNECTED"]
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
        for row in [header] + rows {
            print(row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
    }
}

struct MetricsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print the coordinator's metrics in the Prometheus text format.",
        discussion: "The counters are those of the coordinator that answers; the queue gauges are the database's.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let m = try await self.global.withClient(readOnly: true) { try await $0.call(MetricsText.self, NoParams()) }
        if self.global.json { return self.global.printJSON(m) }
        print(m.exposition, terminator: "")
    }
}

struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "health", abstract: "Show the coordinator's health.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let h = try await self.global.withClient(readOnly: true) { try await $0.call(Health.self, NoParams()) }
        if self.global.json { return self.global.printJSON(h) }
        let since = h.databaseSince.map { " since \($0)" } ?? ""
        let connections = h.connections.map { c in ", connections \(c.open)\(c.limit.map { " of \($0)" } ?? "")" } ?? ""
        print("coordinator \(h.version), up \(h.uptimeSeconds)s, database \(h.database)\(since), agents \(h.agents)\(connections)")
        print(
            "queued \(h.queue.QUEUED)  active \(h.queue.ACTIVE)  completed \(h.queue.COMPLETED)  failed \(h.queue.FAILED)  skipped \(h.queue.SKIPPED)  (completed today \(h.completedToday))"
                + (h.countsAt.map { "  as of \($0): the database did not answer" } ?? "")
        )
        if h.campaigns.count > 1 {
            var rows = [["CAMPAIGN", "STATUS", "QUEUED", "ACTIVE", "DIALING", "CALLS TODAY", "COMPLETED", "FAILED", "SKIPPED"]]
            for c in h.campaigns {
                rows.append([
                    c.name, c.status.rawValue, String(c.queue.QUEUED), String(c.queue.ACTIVE), String(c.dialing),
                    String(c.callsToday), String(c.queue.COMPLETED), String(c.queue.FAILED), String(c.queue.SKIPPED),
                ])
            }
            print(Output.table(rows))
        }
        if h.database != "up" { throw ExitCode(2) }
    }
}
