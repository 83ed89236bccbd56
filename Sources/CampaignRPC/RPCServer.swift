import CampaignProtocol
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// Serves line-delimited JSON-RPC 2.0 on a Unix stream socket.
///
/// Requests of one connection are handled concurrently (a long-polling `jobs.lease` never blocks
/// the connection's other calls) and answered as they finish; clients match answers by id.
/// On graceful shutdown the server stops accepting, stops reading, answers what is in flight,
/// then closes.
public final class RPCServer: Service, Sendable {
    public struct Configuration: Sendable {
        public enum Listen: Sendable, Equatable, CustomStringConvertible {
            /// Bind this path (removing a stale socket file) and chmod it to `mode`.
            case path(String, mode: mode_t = 0o660)
            /// Adopt an already bound and listening socket (systemd socket activation).
            case adopted(fileDescriptor: Int32)

            public var description: String {
                switch self {
                case .path(let path, let mode): return "\(path) (mode \(String(mode, radix: 8)))"
                case .adopted(let fd): return "fd \(fd) from systemd"
                }
            }
        }
        public var listen: Listen
        /// Longest request line in bytes (default 1 MiB).
        public var maximumLineLength: Int
        /// Requests in flight per connection before new ones are refused with LIMIT_EXCEEDED.
        public var maximumInFlight: Int
        /// A connection that has sent no complete request this long after connecting is closed
        /// (nil: never).
        public var firstRequestTimeout: Duration? = .seconds(60)
        /// A connection holding part of a line without sending more for this long is closed
        /// (nil: never).
        public var stalledLineTimeout: Duration? = .seconds(60)
        /// The most connections kept open (nil: no cap); see ``ConnectionCap`` for who gives way
        /// at it.
        public var maximumConnections: Int?
        /// True for a peer that may displace a reader's connection at the cap (an admin, an agent).
        public var isPrivileged: @Sendable (PeerCredentials?) -> Bool = { _ in false }

        public init(listen: Listen, maximumLineLength: Int = 1 << 20, maximumInFlight: Int = 128) {
            self.listen = listen
            self.maximumLineLength = maximumLineLength
            self.maximumInFlight = maximumInFlight
        }
    }

    private let configuration: Configuration
    private let router: RPCRouter
    private let logger: Logger
    private let group: any EventLoopGroup
    private let table: ConnectionTable
    /// The cap's decisions other than "admit", logged at most once per 10 s.
    private let capLog = NIOLockedValueBox<(last: NIODeadline?, displaced: Int, refused: Int)>((nil, 0, 0))
    private let listening: NIOLockedValueBox<[CheckedContinuation<Void, any Error>]?> = .init([])

    public init(
        configuration: Configuration, router: RPCRouter, logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.configuration = configuration
        self.router = router
        self.logger = logger
        self.group = group
        self.table = ConnectionTable(cap: configuration.maximumConnections.map(ConnectionCap.init(limit:)))
    }

    /// Connections open now (admitted, not closed yet).
    public var openConnections: Int { self.table.count }

    /// Returns once the socket is listening (or throws if binding failed).
    public func waitUntilListening() async throws {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
            let ready = self.listening.withLockedValue { waiters -> Bool in
                guard waiters != nil else { return true }
                waiters!.append(cont)
                return false
            }
            if ready { cont.resume() }
        }
    }

    private func markListening(_ error: (any Error)?) {
        let waiters = self.listening.withLockedValue { w -> [CheckedContinuation<Void, any Error>] in
            let all = w ?? []
            w = error == nil ? nil : []
            return all
        }
        for w in waiters {
            if let error { w.resume(throwing: error) } else { w.resume() }
        }
    }

    public func run() async throws {
        let maxLine = self.configuration.maximumLineLength
        func amount(_ d: Duration?) -> TimeAmount? {
            d.map { .nanoseconds(Int64($0.components.seconds) * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000) }
        }
        let timeouts = SlowClientGuard.Timeouts(
            firstRequest: amount(self.configuration.firstRequestTimeout),
            stalledLine: amount(self.configuration.stalledLineTimeout))
        let logger = self.logger
        let table = self.table
        let initializer: @Sendable (any Channel) -> EventLoopFuture<NIOAsyncChannel<LineFrame, ByteBuffer>> = {
            channel in
            channel.eventLoop.makeCompletedFuture {
                if timeouts.firstRequest != nil || timeouts.stalledLine != nil {
                    try channel.pipeline.syncOperations.addHandler(SlowClientGuard(timeouts: timeouts, logger: logger))
                }
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(JSONLineDecoder(maximumLineLength: maxLine)))
                return try NIOAsyncChannel<LineFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let acceptErrors = AcceptErrorLog(logger: self.logger)
        let bootstrap = ServerBootstrap(group: self.group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                // Before NIO's accept backoff, which swallows the errors it backs off on.
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(acceptErrors)
                    try channel.pipeline.syncOperations.addHandler(AcceptCounter(table: table) { self.logCap(.displace(0)) })
                }
            }
        let server: NIOAsyncChannel<NIOAsyncChannel<LineFrame, ByteBuffer>, Never>
        do {
            switch self.configuration.listen {
            case .path(let path, let mode):
                server = try await bootstrap.bind(
                    unixDomainSocketPath: path, cleanupExistingSocketFile: true, childChannelInitializer: initializer)
                // NIO creates the socket with the process umask; clients of the group need `mode`.
                chmod(path, mode)
            case .adopted(let fd):
                server = try await bootstrap.bind(fd, childChannelInitializer: initializer)
                // NIO listens again with its own backlog; restore systemd's.
                _ = Glibc.listen(fd, 4096)
            }
        } catch {
            self.markListening(error)
            throw error
        }
        self.markListening(nil)
        self.logger.info("listening", metadata: ["socket": "\(self.configuration.listen)"])

        try await withGracefulShutdownHandler {
            try await server.executeThenClose { inbound in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in inbound {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        } onGracefulShutdown: {
            self.logger.info("stopping: no new connections")
            server.channel.close(promise: nil)
        }
    }

    private func serve(_ connection: NIOAsyncChannel<LineFrame, ByteBuffer>) async {
        let peer = await Self.peerCredentials(connection.channel)
        let (id, verdict) = self.table.identify(connection.channel, privileged: self.configuration.isPrivileged(peer))
        var logger = self.logger
        logger[metadataKey: "conn.id"] = "\(id)"
        switch verdict {
        case .gone:
            try? await connection.executeThenClose { _, _ in }
            return
        case .serve(.admit): break
        case .serve(let decision): self.logCap(decision)
        case .refuse: self.logCap(.refuse)
        }
        if verdict == .refuse {
            let maximum = self.configuration.maximumConnections ?? 0
            let error = RPCError(
                .limitExceeded, "too many connections: this coordinator keeps at most \(maximum) open, retry later",
                details: ["limit": "connections", "maximum": .int(Int64(maximum))])
            try? await connection.executeThenClose { _, outbound in
                try await outbound.write(Self.lineBuffer(RPCRouter.errorResponse(error)))
            }
            return
        }
        var context = RPCContext(connectionID: id, peer: peer, logger: logger)
        await self.router.observer?.connectionOpened(context)
        var spoke = false
        let inFlight = NIOLockedValueBox(0)
        let maxInFlight = self.configuration.maximumInFlight
        let maxLine = self.configuration.maximumLineLength
        let router = self.router
        do {
            try await connection.executeThenClose { inbound, outbound in
                context.push = RPCPush { try await outbound.write($0) }
                let context = context
                await withDiscardingTaskGroup { group in
                    do {
                        for try await frame in inbound.cancelOnGracefulShutdown() {
                            switch frame {
                            case .tooLong(let n):
                                let error = RPCError(
                                    .limitExceeded, "line of \(n) bytes exceeds the limit of \(maxLine) bytes",
                                    details: ["limit": "lineLength", "maximum": .int(Int64(maxLine))])
                                try await outbound.write(Self.lineBuffer(RPCRouter.errorResponse(error)))
                            case .line(let buffer):
                                let line = Array(buffer.readableBytesView)
                                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }  // blank line
                                if !spoke {
                                    spoke = true
                                    self.table.spoke(id)
                                }
                                func admit() -> Bool {
                                    inFlight.withLockedValue { n -> Bool in
                                        guard n < maxInFlight else { return false }
                                        n += 1
                                        return true
                                    }
                                }
                                // Full: a slot is freed just after an answer is written, so a client
                                // that sends the moment an answer arrives may be a hair early. Wait a
                                // little (not reading meanwhile) before refusing.
                                var admitted = admit()
                                var waited = 0
                                while !admitted && waited < 50 {
                                    try? await Task.sleep(for: .milliseconds(1))
                                    waited += 1
                                    admitted = admit()
                                }
                                if !admitted {
                                    let error = RPCError(
                                        .limitExceeded, "more than \(maxInFlight) requests in flight on this connection",
                                        details: ["limit": "inFlight", "maximum": .int(Int64(maxInFlight))])
                                    // (A notification is dropped: it is never answered, not even with an error.)
                                    if let refusal = router.refuse(line: line, error: error) {
                                        try await outbound.write(Self.lineBuffer(refusal))
                                    }
                                    continue
                                }
                                group.addTask {
                                    defer { inFlight.withLockedValue { $0 -= 1 } }
                                    if let response = await router.process(line: line, context: context) {
                                        // The client may be gone: its answer is dropped, nothing else is lost.
                                        try? await outbound.write(Self.lineBuffer(response))
                                    }
                                }
                            }
                        }
                    } catch {
                        logger.debug("connection read ended", metadata: ["error": "\(error)"])
                    }
                    await self.router.observer?.connectionInputEnded(context)
                }
            }
        } catch {
            logger.debug("connection closed with error", metadata: ["error": "\(error)"])
        }
        await self.router.observer?.connectionClosed(context)
    }

    /// Logs what the cap did, at most once per 10 s, with how many since the last line.
    private func logCap(_ decision: ConnectionCap.Decision) {
        let now = NIODeadline.now()
        let due = self.capLog.withLockedValue { log -> (displaced: Int, refused: Int)? in
            if case .refuse = decision { log.refused += 1 } else { log.displaced += 1 }
            if let last = log.last, now - last < .seconds(10) { return nil }
            defer { log = (now, 0, 0) }
            return (log.displaced, log.refused)
        }
        guard let due else { return }
        self.logger.warning(
            "at the connection cap",
            metadata: [
                "connections.maximum": "\(self.configuration.maximumConnections ?? 0)",
                "connections.displaced": "\(due.displaced)", "connections.refused": "\(due.refused)",
            ])
    }

    /// Counts each connection the moment it is accepted, on the server's event loop, before the
    /// child is registered on its own loop (a burst of accepts runs ahead of the registrations):
    /// at the cap the oldest silent connection is closed now, so descriptors stay under the limit.
    final class AcceptCounter: ChannelInboundHandler, Sendable {
        typealias InboundIn = any Channel
        typealias InboundOut = any Channel
        let table: ConnectionTable
        let displaced: @Sendable () -> Void

        init(table: ConnectionTable, displaced: @escaping @Sendable () -> Void) {
            self.table = table
            self.displaced = displaced
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if self.table.accepted(self.unwrapInboundIn(data)) { self.displaced() }
            context.fireChannelRead(data)
        }
    }

    static func lineBuffer(_ bytes: [UInt8]) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count + 1)
        buffer.writeBytes(bytes)
        buffer.writeInteger(UInt8(ascii: "\n"))
        return buffer
    }

    /// Reads SO_PEERCRED of a Unix socket connection (nil when unavailable).
    static func peerCredentials(_ channel: any Channel) async -> PeerCredentials? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        // Layout of glibc's `struct ucred`, which Swift does not import.
        struct UCred {
            var pid: Int32 = 0
            var uid: UInt32 = 0
            var gid: UInt32 = 0
        }
        let future: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(
            level: .socket, name: .init(rawValue: SO_PEERCRED))
        guard let cred = try? await future.get() else { return nil }
        return PeerCredentials(pid: cred.pid, uid: cred.uid, gid: cred.gid)
    }
}
