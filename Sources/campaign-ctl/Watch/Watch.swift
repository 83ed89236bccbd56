import ArgumentParser
import CampaignProtocol
import CampaignRPC
import Dispatch
import Foundation
import NIOConcurrencyHelpers

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "A live view of the campaigns: queue, calls per minute, outcomes, refusals, provider, agents.",
        discussion: """
            On a terminal: a full screen (the alternate screen, given back on exit), redrawn when \
            the event stream (events.subscribe) reports a job transition, at most four times a \
            second. The coordinator is read (health, agents.list, metrics) at most once a second \
            while events come, and every 5 seconds when none do (the database's and the agents' \
            state send no events), but never more often than 20 times what the last reading took \
            (health and metrics count every job kept). q quits; Ctrl-L redraws.

            Without a terminal (or with --lines): one line per second; with --json, one JSON \
            object per second instead (never full screen).

            Calls per minute and outcomes come from the events (a call ends when a DIALING job \
            moves on); refusals at the pre-dial check and provider-limit waits are the counters of \
            the coordinator that answers, since the watch began. NO_COLOR turns colours off.
            """)
    @OptionGroup var global: GlobalOptions

    @Option(help: "Only this campaign.")
    var campaign: String?

    @Flag(help: "One line per second even on a terminal.")
    var lines = false

    @Flag(help: "Exit (status 0) once no job is QUEUED or ACTIVE.")
    var exitWhenDrained = false

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let fullScreen =
            !self.lines && !self.global.json && Terminal.isTTY(STDOUT_FILENO) && Terminal.isTTY(STDIN_FILENO) && environment["TERM"] != "dumb"
        let color = fullScreen && (environment["NO_COLOR"] ?? "").isEmpty
        let watch = LiveWatch(
            socket: self.global.socket, campaign: self.campaign, fullScreen: fullScreen, json: self.global.json,
            color: color, exitWhenDrained: self.exitWhenDrained)
        await watch.run()
    }
}

/// The running watch: the feed from the coordinator, the drawing, the keys and the signals, each
/// a task; the first that says so ends them all.
struct LiveWatch: Sendable {
    let socket: String
    let campaign: String?
    let fullScreen: Bool
    /// Lines as JSON objects (not full screen).
    let json: Bool
    let color: Bool
    let exitWhenDrained: Bool

    /// The model and whether it changed since it was last drawn.
    struct Shared: Sendable {
        var model: WatchModel
        var dirty = true
    }

    func run() async {
        let shared = NIOLockedValueBox(Shared(model: WatchModel(startedAt: Date())))
        let terminal = Terminal()
        if self.fullScreen { terminal.enter() }
        let signals = SignalWatch([SIGINT, SIGTERM, SIGHUP, SIGWINCH])
        let drained = NIOLockedValueBox(false)
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.feed(shared)
                drained.withLockedValue { $0 = !Task.isCancelled }
                return true
            }
            group.addTask { await self.draw(shared, terminal); return true }
            group.addTask {
                for await signal in signals.stream {
                    if signal == SIGWINCH { shared.withLockedValue { $0.dirty = true } } else { return true }
                }
                return false
            }
            if self.fullScreen {
                group.addTask {
                    for await key in Terminal.keys() {
                        switch key {
                        case UInt8(ascii: "q"), UInt8(ascii: "Q"): return true
                        case 0x0C: shared.withLockedValue { $0.dirty = true }  // Ctrl-L
                        default: break
                        }
                    }
                    return false  // no more input: go on without keys
                }
            }
            while let ends = await group.next() {
                if ends {
                    group.cancelAll()
                    break
                }
            }
        }
        signals.stop()
        if self.fullScreen { terminal.restore() }
        // What the screen showed last, in the scrollback; the drained state, which ended the watch.
        if self.fullScreen || drained.withLockedValue({ $0 }) {
            Terminal.write(self.line(shared.withLockedValue { $0.model }) + "\n")
        }
    }

    // MARK: The coordinator

    /// Subscribes and reads the coordinator, reconnecting (after 0.2 s, doubling to 5 s) when
    /// it goes away, resuming after the last event. Returns only when the queue drained (with
    /// `exitWhenDrained`) or when cancelled.
    private func feed(_ shared: NIOLockedValueBox<Shared>) async {
        var pause = Duration.milliseconds(200)
        while !Task.isCancelled {
            do {
                let drained = try await self.session(shared)
                if drained { return }
                pause = .milliseconds(200)
                shared.withLockedValue {
                    $0.model.link = .lost("the connection closed")
                    $0.dirty = true
                }
            } catch is CancellationError {
                return
            } catch {
                let why = (error as? RPCClientError)?.message ?? (error as? RPCError)?.message ?? "\(error)"
                shared.withLockedValue {
                    $0.model.link = .lost(why)
                    $0.dirty = true
                }
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(5))
        }
    }

    /// One connection: subscribe, then read the coordinator when due, until it closes (false)
    /// or the queue drained (true).
    private func session(_ shared: NIOLockedValueBox<Shared>) async throws -> Bool {
        let campaign = self.campaign
        return try await RPCClient.withConnection(
            socketPath: self.socket,
            notifications: { n in
                guard n.method == JobEvent.notification, let params = n.params, let event = try? JobEvent(json: params) else {
                    return
                }
                shared.withLockedValue {
                    $0.model.apply(event, now: Date())
                    $0.dirty = true
                }
            }
        ) { [fullScreen, exitWhenDrained] client in
            let after = shared.withLockedValue { $0.model.lastEventId }
            _ = try await client.call(SubscribeEvents.self, .init(campaign: campaign, after: after))
            shared.withLockedValue { $0.model.link = .connected }
            var lastRead = ContinuousClock.now - .seconds(3600)
            var lastCost = Duration.zero
            while !client.isClosed {
                let (events, problem) = shared.withLockedValue { ($0.model.eventsSinceSnapshot, $0.model.problem) }
                // A line-mode watch prints a fresh line every second: its reading is always stale.
                let stale = events > 0 || !fullScreen || problem != nil
                if WatchModel.readDue(since: ContinuousClock.now - lastRead, lastCost: lastCost, stale: stale) {
                    lastRead = ContinuousClock.now
                    try await Self.read(client, into: shared)
                    lastCost = ContinuousClock.now - lastRead
                    if exitWhenDrained && shared.withLockedValue({ $0.model.drained }) { return true }
                }
                try await Task.sleep(for: .milliseconds(250))
            }
            return false
        }
    }

    /// `health`, `agents.list` and `metrics`, asked together, into the model. An error the
    /// coordinator answers (its database is down) is shown, not fatal.
    private static func read(_ client: RPCClient, into shared: NIOLockedValueBox<Shared>) async throws {
        do {
            async let health = client.call(Health.self, NoParams())
            async let agents = client.call(ListAgents.self, NoParams())
            async let metrics = client.call(MetricsText.self, NoParams())
            let snapshot = WatchModel.Snapshot(
                health: try await health, agents: try await agents,
                metrics: try WatchMetrics(exposition: try await metrics.exposition), at: Date())
            shared.withLockedValue {
                $0.model.took(snapshot)
                $0.model.problem = nil
                $0.dirty = true
            }
        } catch let error as RPCError {
            shared.withLockedValue {
                $0.model.problem = "\(error.message) (\(error.symbol ?? String(error.code)))"
                $0.dirty = true
            }
        } catch let error as PrometheusText.Violation {
            shared.withLockedValue {
                $0.model.problem = "unreadable metrics: \(error)"
                $0.dirty = true
            }
        }
    }

    // MARK: Drawing

    /// The one line of a second: text, or JSON (`--json`).
    private func line(_ model: WatchModel) -> String {
        self.json ? WatchScreen.json(model, now: Date(), only: self.campaign) : WatchScreen.line(model, now: Date(), only: self.campaign)
    }

    /// Full screen: redraws within a quarter of a second of a change, and each second for the
    /// clock. Lines: one line a second.
    private func draw(_ shared: NIOLockedValueBox<Shared>, _ terminal: Terminal) async {
        var lastDraw = ContinuousClock.now - .seconds(60)
        while !Task.isCancelled {
            let since = ContinuousClock.now - lastDraw
            let (model, dirty) = shared.withLockedValue { ($0.model, $0.dirty) }
            if self.fullScreen {
                if dirty || since >= .seconds(1) {
                    shared.withLockedValue { $0.dirty = false }
                    lastDraw = ContinuousClock.now
                    let (width, height) = Terminal.size()
                    let lines = WatchScreen.screen(model, now: Date(), width: width, height: height, only: self.campaign)
                    terminal.draw(lines.map { $0.rendered(color: self.color) })
                }
            } else if since >= .seconds(1) {
                lastDraw = ContinuousClock.now
                Terminal.write(self.line(model) + "\n")
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }
}

/// Signals as a stream (their default action off while it runs). The sources are set once and
/// only cancelled after.
final class SignalWatch: @unchecked Sendable {
    let stream: AsyncStream<Int32>
    private let sources: [any DispatchSourceSignal]
    private let numbers: [Int32]

    init(_ numbers: [Int32]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream()
        self.stream = stream
        self.numbers = numbers
        self.sources = numbers.map { n in
            signal(n, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: n, queue: .global())
            s.setEventHandler { continuation.yield(n) }
            s.resume()
            return s
        }
    }

    func stop() {
        for s in self.sources { s.cancel() }
        for n in self.numbers { signal(n, SIG_DFL) }
    }
}
