import Logging
import NIOCore

/// Closes a connection that sends nothing at all after connecting, or that holds part of a line
/// without sending more (a slow-loris client), once its timeout passes (issue 17): each holds a
/// descriptor and a buffer the server needs for clients that talk. A connection that has sent a
/// complete request and holds no partial line is never touched, however long it stays idle
/// (agents between calls, long polls, event subscribers).
///
/// Sits before the line decoder and only looks at where the newlines are.
final class SlowClientGuard: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The timeouts; nil turns one off.
    struct Timeouts: Sendable, Equatable {
        var firstRequest: TimeAmount?
        var stalledLine: TimeAmount?
    }

    let timeouts: Timeouts
    let logger: Logger
    private var connectedAt = NIODeadline.now()
    private var lastBytesAt = NIODeadline.now()
    private var sawLine = false
    private var partial = false
    private var check: Scheduled<Void>?

    init(timeouts: Timeouts, logger: Logger) {
        self.timeouts = timeouts
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.connectedAt = .now()
        self.lastBytesAt = self.connectedAt
        self.schedule(context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.check?.cancel()
        self.check = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.check?.cancel()
        self.check = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        if buffer.readableBytes > 0 {
            self.lastBytesAt = .now()
            if let last = buffer.readableBytesView.lastIndex(of: UInt8(ascii: "\n")) {
                self.sawLine = true
                self.partial = last < buffer.readableBytesView.endIndex - 1
            } else {
                self.partial = true
            }
            if self.check == nil { self.schedule(context) }
        }
        context.fireChannelRead(data)
    }

    /// The next instant a timeout could pass (nil: none can now).
    private func nextDeadline() -> NIODeadline? {
        var next: NIODeadline?
        if !self.sawLine, let t = self.timeouts.firstRequest { next = self.connectedAt + t }
        if self.partial, let t = self.timeouts.stalledLine {
            let d = self.lastBytesAt + t
            next = next.map { min($0, d) } ?? d
        }
        return next
    }

    private func schedule(_ context: ChannelHandlerContext) {
        guard let deadline = self.nextDeadline() else { return }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        self.check = context.eventLoop.scheduleTask(deadline: deadline) {
            let (guardHandler, context) = bound.value
            guardHandler.check = nil
            guardHandler.verify(context)
        }
    }

    private func verify(_ context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        if !self.sawLine, let t = self.timeouts.firstRequest, now - self.connectedAt >= t {
            self.logger.debug("closing a connection that sent no request", metadata: ["after": "\(t)"])
            context.close(promise: nil)
        } else if self.partial, let t = self.timeouts.stalledLine, now - self.lastBytesAt >= t {
            self.logger.debug("closing a connection stalled in the middle of a line", metadata: ["after": "\(t)"])
            context.close(promise: nil)
        } else {
            self.schedule(context)
        }
    }
}
