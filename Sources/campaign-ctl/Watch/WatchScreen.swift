import CampaignCore
import CampaignProtocol
import Foundation

/// A line of the screen: pieces of text, each with a style. Its width is its characters' count
/// (the view writes names and numbers only; a wide character would count as one).
struct StyledLine: Sendable, Equatable {
    enum Style: Sendable, Equatable {
        case plain, bold, dim, inverse, green, yellow, red
        /// The SGR parameters that turn it on.
        var sgr: String? {
            switch self {
            case .plain: nil
            case .bold: "1"
            case .dim: "2"
            case .inverse: "7"
            case .green: "32"
            case .yellow: "33"
            case .red: "31"
            }
        }
    }

    private(set) var pieces: [(text: String, style: Style)] = []

    init(_ text: String = "", _ style: Style = .plain) {
        if !text.isEmpty { self.pieces = [(text, style)] }
    }

    var width: Int { self.pieces.reduce(0) { $0 + $1.text.count } }
    var text: String { self.pieces.map(\.text).joined() }

    mutating func add(_ text: String, _ style: Style = .plain) {
        guard !text.isEmpty else { return }
        self.pieces.append((text, style))
    }

    /// At most `width` characters: a longer line ends in `…`.
    func truncated(to width: Int) -> StyledLine {
        guard self.width > width else { return self }
        var out = StyledLine()
        var room = max(width - 1, 0)
        for p in self.pieces where room > 0 {
            let part = String(p.text.prefix(room))
            out.add(part, p.style)
            room -= part.count
        }
        if width > 0 { out.add("…", self.pieces.last?.style ?? .plain) }
        return out
    }

    /// Exactly `width` characters: padded with spaces (in the last piece's style, so a title
    /// bar stays one bar) or truncated.
    func fitted(to width: Int) -> StyledLine {
        var out = self.truncated(to: width)
        let missing = width - out.width
        if missing > 0 { out.add(String(repeating: " ", count: missing), self.pieces.last?.style == .inverse ? .inverse : .plain) }
        return out
    }

    /// The line for the terminal: with SGR escapes when `color`, plain text otherwise.
    func rendered(color: Bool) -> String {
        guard color else { return self.text }
        return self.pieces.map { p in p.style.sgr.map { "\u{1B}[\($0)m\(p.text)\u{1B}[0m" } ?? p.text }.joined()
    }

    static func == (a: StyledLine, b: StyledLine) -> Bool {
        a.pieces.count == b.pieces.count && zip(a.pieces, b.pieces).allSatisfy { $0.text == $1.text && $0.style == $1.style }
    }
}

/// Draws a ``WatchModel``: the full screen (``screen(_:now:width:height:)``) and the one line
/// per second of a terminal-less watch (``line(_:now:)``). Pure.
enum WatchScreen {
    /// The table's columns, 80 characters with their spaces: name, then numbers right-aligned.
    static let columns: [(title: String, width: Int)] = [
        ("CAMPAIGN", 12), ("STATUS", 6), ("QUEUED", 7), ("ACTIVE", 6), ("DIAL", 5), ("COMPLETED", 9), ("FAILED", 6),
        ("SKIPPED", 7), ("CALLS/M", 7), ("DUE", 6),
    ]

    /// The campaigns shown: every one not ended, but the default campaign only when it has jobs
    /// (most deployments that use campaigns never enqueue to it); only `only` when given.
    static func campaigns(_ m: WatchModel, only: String?) -> [CampaignHealth] {
        guard let h = m.snapshot?.health else { return [] }
        return h.campaigns.filter { c in
            if let only { return c.name == only }
            return c.name != "default" || c.queue.total > 0 || h.campaigns.count == 1
        }
    }

    /// The shown campaigns' jobs by status and calls in progress together; with every campaign
    /// shown (`only` nil), the queue of all of them, the default campaign's too.
    static func totals(_ m: WatchModel, _ campaigns: [CampaignHealth], only: String?) -> (queue: QueueCounts, dialing: Int) {
        let summed = campaigns.reduce(QueueCounts()) { $0 + $1.queue }
        let queue = only == nil ? m.snapshot?.health.queue ?? summed : summed
        return (queue, campaigns.reduce(0) { $0 + $1.dialing })
    }

    // MARK: Full screen

    static func screen(_ m: WatchModel, now: Date, width: Int, height: Int, only: String? = nil) -> [StyledLine] {
        let campaigns = Self.campaigns(m, only: only)
        var visible = campaigns.count
        var agentRows = Self.agentLines(m, limit: .max).count
        var lines: [StyledLine]
        // Fewest lines lost: first the agents' rows, then campaigns (each is a row in three
        // sections), until it fits.
        while true {
            lines = Self.layout(m, now: now, width: width, campaigns: campaigns, visible: visible, agentRows: agentRows, only: only)
            guard lines.count > height else { break }
            if agentRows > 1 {
                agentRows -= 1
            } else if visible > 1 {
                visible -= 1
            } else {
                break
            }
        }
        var out = Array(lines.prefix(max(height - 1, 0)))
        while out.count < height - 1 { out.append(StyledLine()) }
        if height > 0 { out.append(Self.footer(m, now: now)) }
        return out.map { $0.fitted(to: width) }
    }

    /// Every line but the footer.
    private static func layout(
        _ m: WatchModel, now: Date, width: Int, campaigns: [CampaignHealth], visible: Int, agentRows: Int, only: String?
    ) -> [StyledLine] {
        var lines = [Self.title(m, now: now, width: width), StyledLine()]
        guard let snapshot = m.snapshot else {
            lines.append(StyledLine(m.link == .connecting ? "connecting to the coordinator…" : "no reading yet", .dim))
            return lines
        }
        let shown = Array(campaigns.prefix(visible))
        let hidden = campaigns.count - shown.count
        var header = StyledLine()
        header.add(Self.row(Self.columns.map(\.title)), .bold)
        lines.append(header)
        for c in shown { lines.append(Self.campaignRow(c, m, now: now)) }
        if hidden > 0 { lines.append(StyledLine("… \(hidden) more campaign(s): campaign-ctl watch --campaign NAME", .dim)) }
        if shown.count > 1 && only == nil {
            let (total, dialing) = Self.totals(m, campaigns, only: only)
            let cells = [
                "all", "", String(total.QUEUED), String(total.ACTIVE), String(dialing), String(total.COMPLETED),
                String(total.FAILED), String(total.SKIPPED), String(m.callsPerMinute(nil, now: now)), "",
            ]
            lines.append(StyledLine(Self.row(cells), .bold))
        }

        let since = Self.clock(m.startedAt)
        lines.append(StyledLine())
        lines.append(StyledLine("OUTCOMES since \(since)", .bold))
        for c in shown { lines.append(Self.countsRow(c.name, m.outcomeCounts(c.name).map { ($0.outcome, $0.count) })) }
        lines.append(StyledLine("REFUSALS at the pre-dial check since \(since)", .bold))
        for c in shown { lines.append(Self.countsRow(c.name, m.refusals(c.name).map { ($0.rule, $0.count) })) }

        var provider = StyledLine("PROVIDER ", .bold)
        let dialing = snapshot.health.campaigns.reduce(0) { $0 + $1.dialing }
        if let limit = snapshot.metrics.providerMaxConcurrentCalls {
            provider.add("\(dialing) of \(limit) calls at once", limit > 0 && dialing >= limit ? .yellow : .plain)
        } else {
            provider.add("\(dialing) calls at once")
        }
        provider.add(" · limit waits \(m.providerLimitWaits)")
        let unknown = snapshot.metrics.outcomeUnknown.values.reduce(0, +)
        provider.add(" · outcome unknown ")
        provider.add(String(unknown), unknown > 0 ? .red : .plain)
        lines.append(provider)

        let agents = snapshot.agents.agents
        let held = agents.reduce(0) { $0 + $1.leasesHeld }
        let capacity = agents.reduce(0) { $0 + $1.capacity }
        var agentTitle = StyledLine("AGENTS ", .bold)
        agentTitle.add(
            "\(agents.count) on this coordinator, \(held) of \(capacity) slots in use", agents.isEmpty ? .red : .plain)
        lines.append(agentTitle)
        lines += Self.agentLines(m, limit: agentRows)
        return lines
    }

    private static func title(_ m: WatchModel, now: Date, width: Int) -> StyledLine {
        var t = StyledLine(" campaign watch", .inverse)
        switch m.link {
        case .lost(let why):
            t.add(" · ", .inverse)
            t.add("coordinator unreachable: \(why); reconnecting", .red)
        case .connecting where m.snapshot == nil:
            t.add(" · connecting", .inverse)
        case .connecting, .connected:
            if let h = m.snapshot?.health {
                t.add(" · \(h.version) · \(h.leader ? "leader" : "not leader") · database ", .inverse)
                t.add(h.database, h.database == "up" ? .inverse : .red)
                t.add(" · \(h.agents) agent(s)", .inverse)
            }
            if let problem = m.problem {
                t.add(" · ", .inverse)
                t.add(problem, .red)
            }
        }
        // The clock at the bar's right end.
        let clock = Self.clock(now) + " "
        let pad = width - t.width - clock.count
        if pad > 0 { t.add(String(repeating: " ", count: pad), .inverse) }
        t.add(pad > 0 ? clock : " " + clock, .inverse)
        return t
    }

    private static func campaignRow(_ c: CampaignHealth, _ m: WatchModel, now: Date) -> StyledLine {
        let due = m.snapshot?.metrics.oldestDue[c.name] ?? 0
        let cells = [
            c.name, c.status.rawValue, String(c.queue.QUEUED), String(c.queue.ACTIVE), String(c.dialing),
            String(c.queue.COMPLETED), String(c.queue.FAILED), String(c.queue.SKIPPED),
            String(m.callsPerMinute(c.name, now: now)), due > 0 ? Self.duration(due) : "-",
        ]
        // The same cells as `row`, piece by piece, to colour the status and the failures.
        var line = StyledLine()
        for (i, cell) in cells.enumerated() {
            let (_, w) = Self.columns[i]
            let text = Self.cell(cell, width: w, left: i < 2)
            let style: StyledLine.Style =
                switch i {
                case 1: c.status == .active ? .green : c.status == .paused ? .yellow : .dim
                case 6 where c.queue.FAILED > 0: .red
                case 9 where due >= 300: .yellow
                default: .plain
                }
            line.add(i == 0 ? text : " ", .plain)
            if i > 0 { line.add(text, style) }
        }
        return line
    }

    /// `  name  KEY n  KEY n …`, most first.
    private static func countsRow(_ name: String, _ counts: [(String, Int)]) -> StyledLine {
        var line = StyledLine("  " + Self.cell(name, width: 12, left: true))
        if counts.isEmpty {
            line.add("  none", .dim)
        } else {
            for (key, n) in counts { line.add("  \(key) \(n)") }
        }
        return line
    }

    /// Two agents to a row: `id  held/capacity calls`, at most `limit` rows.
    private static func agentLines(_ m: WatchModel, limit: Int) -> [StyledLine] {
        let agents = (m.snapshot?.agents.agents ?? []).sorted { $0.agentId < $1.agentId }
        var cells = agents.map { a in "  " + Self.cell(a.agentId, width: 20, left: true) + " \(a.leasesHeld)/\(a.capacity) jobs held" }
        var rows: [StyledLine] = []
        while !cells.isEmpty {
            if rows.count == limit - 1 && cells.count > 2 {
                rows.append(StyledLine("  … \(cells.count) more agent(s): campaign-ctl agents", .dim))
                break
            }
            let pair = cells.prefix(2)
            cells.removeFirst(pair.count)
            rows.append(StyledLine(pair.map { Self.cell($0, width: 40, left: true) }.joined()))
        }
        return rows
    }

    private static func footer(_ m: WatchModel, now: Date) -> StyledLine {
        var f = StyledLine("q quits", .bold)
        var rest = " · \(m.eventsSeen) event(s) since \(Self.clock(m.startedAt))"
        if let id = m.lastEventId { rest += ", last #\(id)" }
        if let s = m.snapshot { rest += " · read \(Self.clock(s.at))" }
        f.add(rest, .dim)
        return f
    }

    // MARK: One line per second

    static func line(_ m: WatchModel, now: Date, only: String? = nil) -> String {
        var parts = [Self.clock(now)]
        if case .lost(let why) = m.link { parts.append("coordinator unreachable: \(why); reconnecting") }
        if let problem = m.problem { parts.append("coordinator: \(problem)") }
        guard let s = m.snapshot else {
            if m.link == .connecting { parts.append("connecting") }
            return parts.joined(separator: " ")
        }
        let campaigns = Self.campaigns(m, only: only)
        let (q, dialing) = Self.totals(m, campaigns, only: only)
        parts.append(
            "queued \(q.QUEUED) active \(q.ACTIVE) dialing \(dialing) completed \(q.COMPLETED) failed \(q.FAILED) skipped \(q.SKIPPED)"
        )
        parts.append("· \(m.callsPerMinute(only, now: now)) calls/min")
        parts.append("· agents \(s.health.agents) · database \(s.health.database)\(s.health.leader ? " · leader" : "")")
        if campaigns.count > 1 || only != nil {
            parts.append(
                "| " + campaigns.map { "\($0.name) \($0.queue.QUEUED)q/\($0.dialing)d/\($0.queue.COMPLETED)c" }.joined(separator: " "))
        }
        return parts.joined(separator: " ")
    }

    /// The same second as one JSON object (`--json`), for scripts: the link, the queue and
    /// rates in all, and per campaign its queue, calls in progress and per minute, oldest due
    /// wait, outcomes and refusals since the watch began.
    static func json(_ m: WatchModel, now: Date, only: String? = nil) -> String {
        func counts(_ q: QueueCounts) -> JSONValue {
            .object(Dictionary(uniqueKeysWithValues: JobStatus.allCases.map { ($0.rawValue, JSONValue.int(Int64(q[$0]))) }))
        }
        func tally(_ pairs: [(String, Int)]) -> JSONValue {
            // The keys are distinct (each a tally's own).
            .object(Dictionary(pairs.map { ($0.0, JSONValue.int(Int64($0.1))) }, uniquingKeysWith: { a, _ in a }))
        }
        var o: [String: JSONValue] = [
            "at": .string(Timestamp.string(now)), "since": .string(Timestamp.string(m.startedAt)),
            "events": .int(Int64(m.eventsSeen)),
        ]
        switch m.link {
        case .connecting: o["link"] = .string("connecting")
        case .connected: o["link"] = .string("connected")
        case .lost(let why):
            o["link"] = .string("lost")
            o["problem"] = .string(why)
        }
        if let problem = m.problem { o["problem"] = .string(problem) }
        if let id = m.lastEventId { o["lastEventId"] = .int(id) }
        if let s = m.snapshot {
            let campaigns = Self.campaigns(m, only: only)
            o["readAt"] = .string(Timestamp.string(s.at))
            o["database"] = .string(s.health.database)
            o["leader"] = .bool(s.health.leader)
            o["agents"] = .int(Int64(s.health.agents))
            let (queue, dialing) = Self.totals(m, campaigns, only: only)
            o["queue"] = counts(queue)
            o["dialing"] = .int(Int64(dialing))
            o["callsPerMinute"] = .int(Int64(m.callsPerMinute(only, now: now)))
            o["campaigns"] = .array(campaigns.map { c in
                .object([
                    "name": .string(c.name), "status": .string(c.status.rawValue), "queue": counts(c.queue),
                    "dialing": .int(Int64(c.dialing)), "callsPerMinute": .int(Int64(m.callsPerMinute(c.name, now: now))),
                    "oldestDueSeconds": .double(s.metrics.oldestDue[c.name] ?? 0),
                    "outcomes": tally(m.outcomeCounts(c.name).map { ($0.outcome, $0.count) }),
                    "refusals": tally(m.refusals(c.name).map { ($0.rule, $0.count) }),
                ])
            })
        }
        return JSONValue.object(o).jsonText
    }

    // MARK: Pieces

    /// `cells` in the table's columns.
    static func row(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in Self.cell(c, width: Self.columns[i].width, left: i < 2) }.joined(separator: " ")
    }

    /// `text` in exactly `width` characters: padded (left- or right-aligned) or cut with `…`.
    static func cell(_ text: String, width: Int, left: Bool) -> String {
        if text.count > width { return String(text.prefix(max(width - 1, 0))) + "…" }
        let pad = String(repeating: " ", count: width - text.count)
        return left ? text + pad : pad + text
    }

    /// `42s`, `7m`, `3h`, `2d`.
    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.down))
        switch s {
        case ..<60: return "\(max(s, 0))s"
        case ..<3600: return "\(s / 60)m"
        case ..<86400: return "\(s / 3600)h"
        default: return "\(s / 86400)d"
        }
    }

    /// `HH:MM:SS` in the local timezone.
    static func clock(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&t, &parts)
        return String(format: "%02d:%02d:%02d", parts.tm_hour, parts.tm_min, parts.tm_sec)
    }
}

extension QueueCounts {
    static func + (a: QueueCounts, b: QueueCounts) -> QueueCounts {
        QueueCounts(
            QUEUED: a.QUEUED + b.QUEUED, ACTIVE: a.ACTIVE + b.ACTIVE, COMPLETED: a.COMPLETED + b.COMPLETED,
            FAILED: a.FAILED + b.FAILED, SKIPPED: a.SKIPPED + b.SKIPPED)
    }
}
