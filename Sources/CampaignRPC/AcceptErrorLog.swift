import Logging
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// What the server does when accepting runs out of file descriptors (issue 17).
///
/// SwiftNIO's `ServerSocketChannel` keeps its read interest after an accept that fails with
/// EMFILE/ENFILE before any accept of the same pass succeeded, so the listening socket stays
/// readable and the event loop spins at full CPU (measured: 3 s of CPU in 3 s of flood), its
/// `AcceptBackoffHandler` never getting the chance to wait. The cure is the reserve descriptor
/// of libuv, nginx and HAProxy: one descriptor is held open for this moment; at EMFILE it is
/// released, the next accept succeeds, the connection it brings is closed at once (that client
/// learns it now instead of hanging in the backlog), the reserve is taken again, and the backoff
/// waits a second before accepting more. The errors are logged at most once per interval, with
/// how many there were.
///
/// Installed before NIO's backoff handler, which swallows the errors it backs off on.
final class AcceptErrorLog: ChannelInboundHandler, @unchecked Sendable {
    // @unchecked Sendable: all state is touched on the server channel's event loop only.
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    let logger: Logger
    let interval: TimeAmount
    private var lastLog: NIODeadline?
    private var suppressed = 0
    /// The reserve descriptor (-1 while released).
    private var reserve: Int32 = -1
    /// The reserve was released for an EMFILE: the next accepted connection is closed.
    private var shedNext = false
    /// Connections closed that way since the last log line.
    private var shed = 0

    init(logger: Logger, interval: TimeAmount = .seconds(10)) {
        self.logger = logger
        self.interval = interval
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.takeReserve()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if self.reserve >= 0 { close(self.reserve) }
        self.reserve = -1
    }

    private func takeReserve() {
        if self.reserve < 0 { self.reserve = open("/dev/null", O_RDONLY | O_CLOEXEC) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard self.shedNext else {
            context.fireChannelRead(data)
            return
        }
        self.shedNext = false
        self.shed += 1
        let child = self.unwrapInboundIn(data)
        child.close(promise: nil)
        self.takeReserve()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let outOfDescriptors = (error as? IOError).map { [EMFILE, ENFILE].contains($0.errnoCode) } ?? false
        if outOfDescriptors, self.reserve >= 0 {
            close(self.reserve)
            self.reserve = -1
            self.shedNext = true
        }
        let now = NIODeadline.now()
        if let last = self.lastLog, now - last < self.interval {
            self.suppressed += 1
        } else {
            var metadata: Logger.Metadata = ["error": "\(error)"]
            if self.suppressed > 0 { metadata["more.since.last"] = "\(self.suppressed)" }
            if self.shed > 0 { metadata["connections.shed"] = "\(self.shed)" }
            if outOfDescriptors {
                if let limit = FileLimit.current() { metadata["file.limit"] = "\(limit.soft)" }
                self.logger.error(
                    "cannot accept connections: out of file descriptors; closing the oldest waiting one each second",
                    metadata: metadata)
            } else {
                self.logger.warning("accepting a connection failed", metadata: metadata)
            }
            self.lastLog = now
            self.suppressed = 0
            self.shed = 0
        }
        context.fireErrorCaught(error)
    }
}
