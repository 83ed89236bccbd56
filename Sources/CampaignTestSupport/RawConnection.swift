import CampaignRPC
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A wire-level test client: sends raw bytes, receives raw lines (with a timeout), and can be
/// told not to read at all (a slow reader) or be dropped abruptly mid-call.
///
/// Unlike ``RawLineClient`` it never decodes anything: what a test compares is the bytes the
/// server wrote.
public final class RawConnection: Sendable {
    public struct Timeout: Error, CustomStringConvertible {
        public var waited: Duration
        public init(waited: Duration) { self.waited = waited }
        public var description: String { "nothing from the server within \(self.waited)" }
    }

    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let channel: any Channel
    private let mailbox = Mailbox()
    private let readSignal = NIOLockedValueBox<CheckedContinuation<Void, Never>?>(nil)
    private let readStarted = NIOLockedValueBox(false)
    /// Bytes handed to `send` so far (the writes that returned).
    public let bytesSent = NIOLockedValueBox(0)

    private init(outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, channel: any Channel) {
        self.outbound = outbound
        self.channel = channel
    }

    /// Connects to `socketPath` and runs `body`; closes the connection after.
    ///
    /// - Parameter reading: when false, nothing is read from the socket until ``startReading()``
    ///   (the server's answers back up in the kernel, then in the server).
    public static func with<R: Sendable>(
        socketPath: String, reading: Bool = true, _ body: @Sendable (RawConnection) async throws -> R
    ) async throws -> R {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(unixDomainSocketPath: socketPath) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(JSONLineDecoder(maximumLineLength: 256 << 20)))
                    return try NIOAsyncChannel<LineFrame, ByteBuffer>(
                        wrappingChannelSynchronously: channel,
                        configuration: .init(backPressureStrategy: .init(lowWatermark: 1, highWatermark: 2)))
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            let connection = RawConnection(outbound: outbound, channel: channel.channel)
            return try await withThrowingTaskGroup(of: R?.self) { group in
                group.addTask {
                    await connection.waitForReadStart()
                    do {
                        for try await frame in inbound {
                            switch frame {
                            case .line(let b): connection.mailbox.push(Array(b.readableBytesView))
                            case .tooLong(let n): connection.mailbox.push(Array("<line of \(n) bytes>".utf8))
                            }
                        }
                    } catch {}
                    connection.mailbox.end()
                    return nil
                }
                if reading { connection.startReading() }
                defer {
                    connection.startReading()
                    group.cancelAll()
                }
                return try await body(connection)
            }
        }
    }

    /// Starts reading the server's answers (a no-op when already reading).
    public func startReading() {
        let cont = self.readStarted.withLockedValue { started -> CheckedContinuation<Void, Never>? in
            started = true
            return self.readSignal.withLockedValue { c in
                defer { c = nil }
                return c
            }
        }
        cont?.resume()
    }

    private func waitForReadStart() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let started = self.readStarted.withLockedValue { started -> Bool in
                if !started { self.readSignal.withLockedValue { $0 = cont } }
                return started
            }
            if started { cont.resume() }
        }
    }

    /// Writes `bytes` (suspends while the socket is not writable: the server is not reading).
    public func send(_ bytes: [UInt8]) async throws {
        try await self.outbound.write(ByteBuffer(bytes: bytes))
        self.bytesSent.withLockedValue { $0 += bytes.count }
    }

    public func send(_ text: String) async throws {
        try await self.send(Array(text.utf8))
    }

    /// The next line the server wrote, without its `\n`; nil once the server closed the connection.
    ///
    /// The default wait is long (two minutes) for answers expected in milliseconds: at a full
    /// suite's start the test process's two cooperative threads, which the in-process server's
    /// handlers run on, can be taken for tens of seconds by other suites (the in-flight test saw
    /// nothing for 30 s in two full runs, and passes alone every time). No test waits for a
    /// timeout to happen.
    public func receive(timeout: Duration = .seconds(120)) async throws -> [UInt8]? {
        try await self.mailbox.next(timeout: timeout)
    }

    /// The next line as text.
    public func receiveText(timeout: Duration = .seconds(120)) async throws -> String? {
        try await self.receive(timeout: timeout).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Closes the connection at once (a client that goes away mid-call).
    public func close() async {
        try? await self.channel.close()
    }
}

/// Lines received, and at most one waiter for the next.
private final class Mailbox: Sendable {
    private struct State {
        var lines: [[UInt8]] = []
        var head = 0
        var ended = false
        var waiter: (token: UInt64, continuation: CheckedContinuation<[UInt8]?, any Error>)?
        var nextToken: UInt64 = 0
        /// Waits whose timer fired before they started waiting.
        var expired: Set<UInt64> = []
    }

    private let state = NIOLockedValueBox(State())

    func push(_ line: [UInt8]) {
        let waiter = self.state.withLockedValue { s -> CheckedContinuation<[UInt8]?, any Error>? in
            if let w = s.waiter {
                s.waiter = nil
                return w.continuation
            }
            s.lines.append(line)
            return nil
        }
        waiter?.resume(returning: line)
    }

    func end() {
        let waiter = self.state.withLockedValue { s -> CheckedContinuation<[UInt8]?, any Error>? in
            s.ended = true
            defer { s.waiter = nil }
            return s.waiter?.continuation
        }
        waiter?.resume(returning: nil)
    }

    func next(timeout: Duration) async throws -> [UInt8]? {
        let token = self.state.withLockedValue { s -> UInt64 in
            s.nextToken += 1
            return s.nextToken
        }
        let timer = Task {
            try await Task.sleep(for: timeout)
            let waiter = self.state.withLockedValue { s -> CheckedContinuation<[UInt8]?, any Error>? in
                guard s.waiter?.token == token else {
                    s.expired.insert(token)
                    return nil
                }
                defer { s.waiter = nil }
                return s.waiter?.continuation
            }
            waiter?.resume(throwing: RawConnection.Timeout(waited: timeout))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<[UInt8]?, any Error>) in
            enum Now { case line([UInt8]), ended, expired, wait }
            let now = self.state.withLockedValue { s -> Now in
                if s.head < s.lines.count {
                    let line = s.lines[s.head]
                    s.head += 1
                    if s.head > 1024 && s.head * 2 > s.lines.count {
                        s.lines.removeFirst(s.head)
                        s.head = 0
                    }
                    return .line(line)
                }
                if s.ended { return .ended }
                if s.expired.remove(token) != nil { return .expired }
                s.waiter = (token, cont)
                return .wait
            }
            switch now {
            case .line(let l): cont.resume(returning: l)
            case .ended: cont.resume(returning: nil)
            case .expired: cont.resume(throwing: RawConnection.Timeout(waited: timeout))
            case .wait: break
            }
        }
    }
}
