import ArgumentParser
import AsyncHTTPClient
import CampaignProtocol
import CampaignRPC
import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print, follow or forward the job event stream (events.subscribe).",
        discussion: """
            One event per job transition (status, phase or attempts), in eventId order. Without \
            --follow: the events after --after (default 0: all still kept) up to the newest, then exit. \
            With --follow: then every new one; when the coordinator goes away it reconnects and \
            resumes after the last event handled, missing none.

            --post URL forwards each event to a webhook: a POST of the event's JSON with the headers \
            Campaign-Event-Id and Campaign-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \
            "<t>.<body>" keyed with the secret file's contents>. Anything but a 2xx answer is retried \
            with backoff (0.5 s doubling to 60 s) until it succeeds: delivery is at least once and in \
            order. The last acknowledged eventId is kept in --state-file (default \
            $STATE_DIRECTORY/last-event-id under systemd), and a restart resumes after it (the state \
            file wins over --after, which says where a first start begins).
            """)
    @OptionGroup var global: GlobalOptions

    @Option(help: "Only this campaign's jobs (default: every campaign).")
    var campaign: String?

    @Option(help: "Start after this eventId, unless the state file holds one (default: 0, or now with --follow).")
    var after: Int64?

    @Flag(help: "Keep running: print (or forward) every new event.")
    var follow = false

    @Option(help: "Forward each event to this URL (http or https) instead of printing it; needs --follow.")
    var post: String?

    @Option(help: "File holding the webhook's shared secret (with --post).")
    var secretFile: String?

    @Option(help: "File keeping the last eventId handled, to resume from after a restart.")
    var stateFile: String?

    @Option(help: "Seconds a webhook request may take before it is retried.")
    var postTimeout: Int = 10

    func validate() throws {
        if self.post != nil {
            guard self.follow else { throw ValidationError("--post forwards a stream: add --follow") }
            guard self.secretFile != nil else { throw ValidationError("--post needs --secret-file") }
            guard self.resolvedStateFile != nil else {
                throw ValidationError("--post needs --state-file (or STATE_DIRECTORY, as systemd sets it)")
            }
            guard let url = URL(string: self.post!), ["http", "https"].contains(url.scheme ?? "") else {
                throw ValidationError("--post must be an http:// or https:// URL")
            }
        }
        guard self.postTimeout > 0 else { throw ValidationError("--post-timeout must be positive") }
    }

    var resolvedStateFile: String? {
        if let s = self.stateFile { return s }
        guard self.post != nil, let dir = ProcessInfo.processInfo.environment["STATE_DIRECTORY"], !dir.isEmpty else {
            return nil
        }
        // systemd may list several directories, separated by colons: the first is ours.
        return (dir.split(separator: ":").first.map(String.init) ?? dir) + "/last-event-id"
    }

    func run() async throws {
        let state = try self.resolvedStateFile.map { try EventStateFile(path: $0) }
        let sink: any EventSink
        if let post = self.post, let secretFile = self.secretFile {
            sink = try Webhook(url: post, secret: try Webhook.readSecret(secretFile), timeout: .seconds(Int64(self.postTimeout)))
        } else {
            sink = EventPrinter(json: self.global.json)
        }
        // A state file that holds a place wins: --after is where a first start begins.
        let start = state?.last ?? self.after ?? (self.follow ? nil : 0)
        let follower = EventFollower(
            socket: self.global.socket, campaign: self.campaign, after: start, follow: self.follow, sink: sink, state: state)
        do {
            try await follower.run()
        } catch let error as RPCError {
            Output.fail("\(error.message) (\(error.symbol ?? String(error.code)))")
        } catch let error as RPCClientError {
            Output.fail(error.message)
        }
        await sink.shutdown()
    }
}

/// Where followed events go: printed, or posted to a webhook. `handle` returns once the event
/// is done with (for a webhook: acknowledged), and is called for one event at a time.
protocol EventSink: Sendable {
    func handle(_ event: JobEvent) async
    func shutdown() async
}

/// Subscribes, hands each event to the sink once in eventId order, and (following) reconnects
/// after the coordinator went away, resuming after the last event handled.
struct EventFollower: Sendable {
    let socket: String
    let campaign: String?
    let after: Int64?
    let follow: Bool
    let sink: any EventSink
    let state: EventStateFile?

    func run() async throws {
        guard self.follow else { return try await self.list() }
        let cursor = NIOLockedValueBox<Int64?>(self.after)
        var pause = Duration.milliseconds(200)
        while true {
            do {
                try await self.session(cursor: cursor)
                pause = .milliseconds(200)
                Self.note("coordinator closed the connection; reconnecting after event \(cursor.withLockedValue { $0 }.map(String.init) ?? "-")")
            } catch let error as RPCClientError {
                Self.note("\(error.message); retrying in \(pause)")
            } catch let error as RPCError where error.code == RPCErrorCode.databaseUnavailable.number {
                Self.note("\(error.message); retrying in \(pause)")
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(5))
        }
    }

    /// One connection's subscription, until the connection closes.
    private func session(cursor: NIOLockedValueBox<Int64?>) async throws {
        let sink = self.sink
        let state = self.state
        try await RPCClient.withConnection(
            socketPath: self.socket,
            notifications: { n in
                guard n.method == JobEvent.notification, let params = n.params, var event = try? JobEvent(json: params) else {
                    return
                }
                // After a reconnect the stream may repeat what was handled: handled once here.
                if let c = cursor.withLockedValue({ $0 }), event.eventId <= c { return }
                event.subscription = nil
                await sink.handle(event)
                cursor.withLockedValue { $0 = event.eventId }
                state?.save(event.eventId)
            }
        ) { [campaign] client in
            let r = try await client.call(
                SubscribeEvents.self, .init(campaign: campaign, after: cursor.withLockedValue { $0 }))
            cursor.withLockedValue { if $0 == nil { $0 = r.after } }
            await client.waitClosed()
        }
    }

    /// Not following: the events after `after` up to the newest, page by page (`events.list`).
    private func list() async throws {
        let (sink, campaign) = (self.sink, self.campaign)
        let start = self.after ?? 0
        try await RPCClient.withConnection(socketPath: self.socket) { client in
            var after = start
            while true {
                let page = try await client.call(ListEvents.self, .init(campaign: campaign, after: after, limit: 1000))
                if after < (page.oldest ?? page.head + 1) - 1 {
                    Self.note("events after \(after) up to \((page.oldest ?? page.head + 1) - 1) are no longer kept (retention)")
                }
                for e in page.events { await sink.handle(e) }
                if let last = page.events.last { self.state?.save(last.eventId) }
                guard let last = page.events.last, page.events.count == 1000 else { break }
                after = last.eventId
            }
        }
    }

    static func note(_ message: String) {
        FileHandle.standardError.write(Data("campaign-ctl: \(message)\n".utf8))
    }
}

/// Prints one line per event: readable, or its JSON (`--json`).
struct EventPrinter: EventSink {
    let json: Bool

    func handle(_ e: JobEvent) async {
        let line: String
        if self.json {
            line = String(decoding: e.jsonBytes, as: UTF8.self)
        } else {
            let state = e.phase.map { "\(e.status.rawValue)/\($0.rawValue)" } ?? e.status.rawValue
            var parts = [e.at, "#\(e.eventId)", e.campaign, "job \(e.id) (\(e.queueJobId))", state, "attempts \(e.attemptsMade)"]
            if let o = e.outcome { parts.append(o) }
            if let r = e.reason { parts.append("reason: \(r)") }
            line = parts.joined(separator: "  ")
        }
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func shutdown() async {}
}

/// The last eventId handled, in a file replaced whole (write, then rename) after each event.
final class EventStateFile: Sendable {
    let path: String
    let last: Int64?

    init(path: String) throws {
        self.path = path
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let id = Int64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw CtlError(message: "\(path) does not hold an eventId: \(text.prefix(40))")
            }
            self.last = id
        } else {
            self.last = nil
        }
    }

    func save(_ eventId: Int64) {
        let temporary = self.path + ".tmp"
        do {
            try Data("\(eventId)\n".utf8).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, self.path) == 0 else { throw CtlError(message: String(cString: strerror(errno))) }
        } catch {
            EventFollower.note("cannot write \(self.path): \(error); a restart resends from the last saved event")
        }
    }
}

/// Forwards events to a business application's webhook, signed, one at a time, each retried
/// until acknowledged (2xx).
struct Webhook: EventSink {
    let url: String
    let secret: SymmetricKey
    let timeout: TimeAmount
    let client: HTTPClient

    init(url: String, secret: [UInt8], timeout: TimeAmount) throws {
        guard !secret.isEmpty else { throw CtlError(message: "the webhook secret is empty") }
        self.url = url
        self.secret = SymmetricKey(data: secret)
        self.timeout = timeout
        var config = HTTPClient.Configuration()
        config.timeout.connect = .seconds(5)
        config.redirectConfiguration = .disallow
        config.connectionPool.retryConnectionEstablishment = false
        self.client = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: config)
    }

    /// The secret file's bytes, without a final newline.
    static func readSecret(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CtlError(message: "cannot read the secret file \(path)")
        }
        var bytes = [UInt8](data)
        while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
        return bytes
    }

    /// `t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
    static func signature(body: [UInt8], timestamp: Int64, key: SymmetricKey) -> String {
        let message = Array("\(timestamp).".utf8) + body
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: key)
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    func handle(_ event: JobEvent) async {
        let body = event.jsonBytes
        var pause = Duration.milliseconds(500)
        while !Task.isCancelled {
            let problem: String
            do {
                var request = HTTPClientRequest(url: self.url)
                request.method = .POST
                let t = Int64(Date().timeIntervalSince1970)
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "User-Agent", value: "campaign-ctl/\(CampaignVersion.current)")
                request.headers.add(name: "Campaign-Event-Id", value: String(event.eventId))
                request.headers.add(name: "Campaign-Signature", value: Self.signature(body: body, timestamp: t, key: self.secret))
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await self.client.execute(request, timeout: self.timeout)
                _ = try? await response.body.collect(upTo: 1 << 16)
                if (200..<300).contains(response.status.code) { return }
                problem = "HTTP \(response.status.code)"
            } catch {
                problem = "\(error)"
            }
            EventFollower.note("webhook: event \(event.eventId) not acknowledged (\(problem)); retrying in \(pause)")
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(60))
        }
    }

    func shutdown() async {
        try? await self.client.shutdown()
    }
}
