import CampaignRPC
import NIOCore
import NIOPosix

/// A test client that sends raw bytes and reads raw lines, for malformed input and framing tests.
public final class RawLineClient: Sendable {
    private let channel: NIOAsyncChannel<LineFrame, ByteBuffer>

    private init(channel: NIOAsyncChannel<LineFrame, ByteBuffer>) {
        self.channel = channel
    }

    /// Connects, runs `body`, closes.
    public static func with<R: Sendable>(
        socketPath: String, _ body: @Sendable (_ send: @Sendable (String) async throws -> Void,
                                              _ receive: @Sendable () async throws -> String?) async throws -> R
    ) async throws -> R {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: socketPath) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(JSONLineDecoder(maximumLineLength: 64 << 20)))
                    return try NIOAsyncChannel<LineFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            let iterator = IteratorBox(inbound.makeAsyncIterator())
            return try await body(
                { text in try await outbound.write(ByteBuffer(string: text)) },
                {
                    guard case .line(let b)? = try await iterator.next() else { return nil }
                    return String(buffer: b)
                })
        }
    }
}

/// Lets the receive closure own the iterator. `@unchecked Sendable`: a test uses it from one task.
final class IteratorBox: @unchecked Sendable {
    var iterator: NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator
    init(_ iterator: NIOAsyncChannelInboundStream<LineFrame>.AsyncIterator) { self.iterator = iterator }
    func next() async throws -> LineFrame? { try await self.iterator.next() }
}
