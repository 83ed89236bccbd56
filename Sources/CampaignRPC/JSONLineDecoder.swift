import NIOCore

/// One frame of the line-delimited protocol.
public enum LineFrame: Sendable, Equatable {
    /// One line, without its `\n` (a trailing `\r` is dropped too).
    case line(ByteBuffer)
    /// A line longer than the limit: its bytes were discarded up to and including its `\n`.
    case tooLong(byteCount: Int)
}

/// Splits a byte stream into `\n`-terminated lines of at most `maximumLineLength` bytes.
///
/// An oversized line is not fatal: the decoder reports it once as ``LineFrame/tooLong(byteCount:)``,
/// discards its bytes without buffering them, and goes on with the next line — so one bad client
/// message never costs the connection, and memory stays bounded by the limit.
public struct JSONLineDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = LineFrame

    public let maximumLineLength: Int
    /// Bytes of the current oversized line discarded so far (nil when not discarding).
    private var discarding: Int?
    /// How far the current buffer was already scanned for `\n`.
    private var scanned = 0

    public init(maximumLineLength: Int = 1 << 20) {
        self.maximumLineLength = maximumLineLength
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = self.nextFrame(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool
    ) throws -> DecodingState {
        if let frame = self.nextFrame(&buffer) {
            context.fireChannelRead(Self.wrapInboundOut(frame))
            return .continue
        }
        // An oversized last line cut off by EOF is still reported.
        if let dropped = self.discarding {
            let n = dropped + buffer.readableBytes
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            self.discarding = nil
            self.scanned = 0
            context.fireChannelRead(Self.wrapInboundOut(.tooLong(byteCount: n)))
            return .needMoreData
        }
        // A last line without `\n` at EOF is still a message — if it is within the limit (up to
        // limit+1 bytes are held while waiting for a `\r\n`).
        if buffer.readableBytes > 0, let rest = buffer.readSlice(length: buffer.readableBytes) {
            self.scanned = 0
            let line = Self.trimmingCR(rest)
            let frame: LineFrame =
                line.readableBytes > self.maximumLineLength ? .tooLong(byteCount: rest.readableBytes) : .line(line)
            context.fireChannelRead(Self.wrapInboundOut(frame))
        }
        return .needMoreData
    }

    /// The framing logic, free of channel plumbing (tested directly).
    public mutating func nextFrame(_ buffer: inout ByteBuffer) -> LineFrame? {
        let view = buffer.readableBytesView
        let start = view.startIndex + self.scanned
        if let nl = view[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let length = nl - view.startIndex
            self.scanned = 0
            if let dropped = self.discarding {
                buffer.moveReaderIndex(forwardBy: length + 1)
                self.discarding = nil
                return .tooLong(byteCount: dropped + length)
            }
            // The `\r` of a CRLF ending does not count against the limit.
            let hasCR = length > 0 && view[nl - 1] == UInt8(ascii: "\r")
            if length - (hasCR ? 1 : 0) > self.maximumLineLength {
                buffer.moveReaderIndex(forwardBy: length + 1)
                return .tooLong(byteCount: length)
            }
            let line = buffer.readSlice(length: length)!
            buffer.moveReaderIndex(forwardBy: 1)
            return .line(Self.trimmingCR(line))
        }
        // No newline yet.
        // One byte of slack for a `\r` that may precede the coming `\n`.
        if self.discarding != nil || view.count > self.maximumLineLength + 1 {
            self.discarding = (self.discarding ?? 0) + view.count
            buffer.moveReaderIndex(forwardBy: view.count)
            self.scanned = 0
        } else {
            self.scanned = view.count
        }
        return nil
    }

    private static func trimmingCR(_ line: ByteBuffer) -> ByteBuffer {
        var line = line
        if line.readableBytesView.last == UInt8(ascii: "\r") {
            line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1)!
        }
        return line
    }
}
