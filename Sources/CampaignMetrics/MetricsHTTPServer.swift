import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// Where `--metrics-listen` serves `GET /metrics`: `HOST:PORT`, `[IPv6]:PORT` or `:PORT`
/// (loopback). Off unless given: a scrape endpoint is a port an operator opens on purpose.
public struct MetricsAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Nil when `text` is not `HOST:PORT` with a port of 0…65535 (0: any free port, for tests).
    public init?(parsing text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "127.0.0.1" }
        guard !host.contains(where: { $0 == " " || $0 == "/" }) else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { self.host.contains(":") ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)" }
}

/// A small HTTP/1.1 listener that answers `GET /metrics` with what `render` returns (the
/// Prometheus text format), 404 elsewhere and 405 for other methods. Connections are few (a
/// scraper or two): at most ``maximumConnections`` at once, each closed after
/// ``idleTimeout`` without a request.
public final class MetricsHTTPServer: Service, Sendable {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    public static let maximumConnections = 32
    public static let idleTimeout = TimeAmount.seconds(30)

    let address: MetricsAddress
    let logger: Logger
    let render: @Sendable () async -> String
    private let bound = NIOLockedValueBox<(port: Int?, waiters: [CheckedContinuation<Int, any Error>])>((nil, []))
    private let open = NIOLockedValueBox(0)

    public init(address: MetricsAddress, logger: Logger, render: @escaping @Sendable () async -> String) {
        self.address = address
        self.logger = logger
        self.render = render
    }

    /// The port listened on, once listening (the real one when the address asked for port 0).
    public func waitUntilListening() async throws -> Int {
        try await withCheckedThrowingContinuation { c in
            let port = self.bound.withLockedValue { b -> Int? in
                if let p = b.port { return p }
                b.waiters.append(c)
                return nil
            }
            if let port { c.resume(returning: port) }
        }
    }

    private func listening(on port: Int?, error: (any Error)? = nil) {
        let waiters = self.bound.withLockedValue { b -> [CheckedContinuation<Int, any Error>] in
            b.port = port
            defer { b.waiters = [] }
            return b.waiters
        }
        for w in waiters {
            if let port { w.resume(returning: port) } else { w.resume(throwing: error ?? CancellationError()) }
        }
    }

    public func run() async throws {
        let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
        do {
            server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.backlog, value: 16)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .bind(host: self.address.host, port: self.address.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                        try channel.pipeline.syncOperations.addHandler(CloseOnIdle())
                        return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                            wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            self.logger.error("cannot listen for metrics", metadata: ["address": "\(self.address)", "error": "\(error)"])
            self.listening(on: nil, error: error)
            throw error
        }
        let port = server.channel.localAddress?.port ?? self.address.port
        self.listening(on: port)
        self.logger.info("serving metrics", metadata: ["url": "http://\(MetricsAddress(host: self.address.host, port: port))/metrics"])
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await server.executeThenClose { connections in
                    for try await connection in connections {
                        let admitted = self.open.withLockedValue { n -> Bool in
                            guard n < Self.maximumConnections else { return false }
                            n += 1
                            return true
                        }
                        guard admitted else {
                            connection.channel.close(promise: nil)
                            continue
                        }
                        group.addTask {
                            defer { self.open.withLockedValue { $0 -= 1 } }
                            await self.serve(connection)
                        }
                    }
                }
                group.cancelAll()
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let h): head = h
                case .body: break
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    let (status, body, extra) = await self.answer(request)
                    var headers = HTTPHeaders()
                    headers.add(name: "Content-Type", value: status == .ok ? Self.contentType : "text/plain; charset=utf-8")
                    headers.add(name: "Content-Length", value: String(body.utf8.count))
                    for (name, value) in extra { headers.add(name: name, value: value) }
                    if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
                    try await outbound.write(.head(HTTPResponseHead(version: request.version, status: status, headers: headers)))
                    if request.method != .HEAD {
                        try await outbound.write(.body(.byteBuffer(ByteBuffer(string: body))))
                    }
                    try await outbound.write(.end(nil))
                    if !request.isKeepAlive { return }
                }
            }
        }
    }

    private func answer(_ request: HTTPRequestHead) async -> (HTTPResponseStatus, String, [(String, String)]) {
        let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
        guard path == "/metrics" else { return (.notFound, "not found: metrics are at /metrics\n", []) }
        guard request.method == .GET || request.method == .HEAD else {
            return (.methodNotAllowed, "only GET and HEAD\n", [("Allow", "GET, HEAD")])
        }
        return (.ok, await self.render(), [])
    }
}

/// Closes a connection that sent nothing for the idle timeout.
private final class CloseOnIdle: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}
