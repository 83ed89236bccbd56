import CampaignProtocol
import NIOConcurrencyHelpers

/// Keeps systemd's `STATUS=` line current, so `systemctl status` is the health check:
/// `agents 4 · queued 120 · active 8 · done today 5012 · database up · leader · connections 9/65464`.
public final class StatusReporter: Sendable {
    private let send: @Sendable (String) -> Void
    private let health: @Sendable () async -> Health.Result?
    private let agents: @Sendable () -> Int
    private let database: (@Sendable () -> (condition: String, since: String?))?
    private let last = NIOLockedValueBox<(line: String, health: Health.Result?)>(("", nil))

    /// - Parameters:
    ///   - send: sends a `STATUS=` line (the notifier's `status`).
    ///   - health: what `health` answers (nil: it failed).
    ///   - agents: the number of agents connected now.
    ///   - database: the database's condition now and since when (nil: the last health's).
    public init(
        send: @escaping @Sendable (String) -> Void, health: @escaping @Sendable () async -> Health.Result?,
        agents: @escaping @Sendable () -> Int, database: (@Sendable () -> (condition: String, since: String?))? = nil
    ) {
        self.send = send
        self.health = health
        self.agents = agents
        self.database = database
    }

    /// The line last sent (empty before the first).
    public var line: String { self.last.withLockedValue { $0.line } }

    /// Sends `STATUS=` when the summary changed. `recount` reads the queue counts from the
    /// database (each maintenance round); without it (an agent came or went) the last counts are
    /// reused with the current number of agents and the database's condition now, so a burst of
    /// reconnects or a database that stops answering costs no table scans.
    public func refresh(recount: Bool = true) async {
        let health: Health.Result?
        if recount {
            health = await self.health()
        } else {
            var h = self.last.withLockedValue { $0.health }
            h?.agents = self.agents()
            if let d = self.database?() {
                h?.database = d.condition
                h?.databaseSince = d.since
            }
            health = h
        }
        let line = Self.line(health, agents: self.agents())
        let changed = self.last.withLockedValue { last -> Bool in
            defer { last = (line, health) }
            return last.line != line
        }
        if changed { self.send(line) }
    }

    /// The `STATUS=` line for a `health` answer (nil or database not up: say so first).
    public static func line(_ h: Health.Result?, agents: Int) -> String {
        let connections = h?.connections.map { c in " · connections \(c.open)\(c.limit.map { "/\($0)" } ?? "")" } ?? ""
        guard let h, h.database == "up" else {
            let state = h?.database == "unresponsive" ? "UNRESPONSIVE" : "UNREACHABLE"
            let since = h?.databaseSince.map { " since \($0)" } ?? ""
            return "agents \(agents) · database \(state)\(since)\(connections)"
        }
        let role = h.leader ? " · leader" : ""
        return "agents \(h.agents) · queued \(h.queue.QUEUED) · active \(h.queue.ACTIVE) · done today \(h.completedToday) · database up\(role)\(connections)"
    }
}
