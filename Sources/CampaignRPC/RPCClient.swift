import CampaignProtocol
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Errors of the client side of the transport.
public struct RPCClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case connectFailed, connectionClosed, badResponse }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { self.message }
}

/// A notification the server sent on its own (no id, never answered).
public struct RPCNotification: Sendable {
    public var method: String
    public var params: JSONValue?
}

/// A JSON-RPC client over one Unix socket connection. Calls may run concurrently; answers are
/// matched to callers by id.
public final class RPCClient: Sendable {
    private struct State {
        var nextID: Int64 = 0
        var pending: [Int64: EventLoopPromise<Answer>] = [:]
        var closed = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        /// Calls holding one of the `maximumInFlight` slots (sent or about to be).
        var inFlight = 0
        var nextSlotWaiter: UInt64 = 0
        var slotWaiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    }

    /// One answer line, and its tree when our parser could read it (it was read once, for the id).
    private struct Answer: Sendable {
        var bytes: [UInt8]
        var tree: JSONValue?
    }

    private let state = NIOLockedValueBox(State())
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private let channel: any Channel
    private var eventLoop: any EventLoop { self.channel.eventLoop }
    /// Longest request line sent (the server's default limit).
    public let maximumRequestBytes = 1 << 20
    /// Most calls in flight at once; more wait for a slot here instead of being refused by the
    /// server (whose limit is 128 per connection, protocol/README "Limits").
    public let maximumInFlight: Int

    /// The client's default in-flight bound: below the server's 128, so a busy agent (capacity up
    /// to 1000) queues its calls here rather than being answered LIMIT_EXCEEDED.
    public static let defaultMaximumInFlight = 100

    private init(outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>, channel: any Channel, maximumInFlight: Int) {
        self.outbound = outbound
        self.channel = channel
        self.maximumInFlight = max(1, maximumInFlight)
    }

    /// Connects to `socketPath`, runs `body` with the client, and closes the connection after.
    ///
    /// - Throws: ``RPCClientError`` (`connectFailed`) when nobody listens on the socket.
    ///
    /// - Parameter notifications: handles the server's notifications (lines with a method and no
    ///   id, such as `events.job`), one at a time in arrival order. The connection is not read
    ///   while it runs, so a slow handler slows the server's sender rather than filling memory.
    ///   Without it, notifications are dropped.
    public static func withConnection<R: Sendable>(
        socketPath: String, maximumLineLength: Int = 64 << 20, maximumInFlight: Int = RPCClient.defaultMaximumInFlight,
        notifications: (@Sendable (RPCNotification) async -> Void)? = nil,
        _ body: @escaping @Sendable (RPCClient) async throws -> R
    ) async throws -> R {
        let channel: NIOAsyncChannel<LineFrame, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            ByteToMessageHandler(JSONLineDecoder(maximumLineLength: maximumLineLength)))
                        return try NIOAsyncChannel<LineFrame, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw RPCClientError(.connectFailed, "cannot connect to \(socketPath): \(error)")
        }
        return try await channel.executeThenClose { inbound, outbound in
            let client = RPCClient(outbound: outbound, channel: channel.channel, maximumInFlight: maximumInFlight)
            return try await withThrowingTaskGroup(of: R?.self) { group in
                group.addTask {
                    do {
                        for try await frame in inbound {
                            guard case .line(let buffer) = frame else { continue }
                            if let n = client.deliver(Array(buffer.readableBytesView)) { await notifications?(n) }
                        }
                    } catch {}
                    client.markClosed()
                    return nil
                }
                defer { group.cancelAll() }
                let result = try await body(client)
                return result
            }
        }
    }

    /// Calls `M` and returns its result, or throws the server's ``RPCError``.
    public func call<M: RPCMethod>(_ method: M.Type, _ params: M.Params) async throws -> M.Result {
        let answer = try await self.send(method: M.name, params: params)
        if let readable = M.Result.self as? any JSONReadable.Type, let response = answer.tree {
            // The hot path's answers (leases, reports): the tree `deliver` parsed, fields read by hand.
            if let e = response["error"], e != .null {
                do { throw try RPCError(json: e) } catch let shape as JSONShapeError {
                    throw RPCClientError(.badResponse, "bad error in the response to \(M.name): error\(shape)")
                }
            }
            guard let r = response["result"], r != .null else {
                throw RPCClientError(.badResponse, "response to \(M.name) has neither result nor error")
            }
            do {
                return try readable.init(json: r) as! M.Result
            } catch {
                throw RPCClientError(.badResponse, "bad response to \(M.name): result\(error)")
            }
        }
        let response: RPCResponse<M.Result>
        do {
            response = try JSONCoding.decoder.decode(RPCResponse<M.Result>.self, from: Data(answer.bytes))
        } catch {
            throw RPCClientError(.badResponse, "bad response to \(M.name): \(JSONCoding.describe(error))")
        }
        if let error = response.error { throw error }
        guard let result = response.result else {
            throw RPCClientError(.badResponse, "response to \(M.name) has neither result nor error")
        }
        return result
    }

    /// Returns when the connection has closed.
    public func waitClosed() async {
        await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
            let closed = self.state.withLockedValue { s -> Bool in
                if s.closed { return true }
                s.closeWaiters.append(cont)
                return false
            }
            if closed { cont.resume() }
        }
    }

    /// Closes the connection; pending calls fail with `connectionClosed`.
    public func close() {
        self.channel.close(promise: nil)
    }

    public var isClosed: Bool { self.state.withLockedValue { $0.closed } }

    private func send<P: Encodable & Sendable>(method: String, params: P) async throws -> Answer {
        try await self.acquireSlot()
        let promise = self.eventLoop.makePromise(of: Answer.self)
        // However the call ends (answer, failure, close, cancellation), its slot is freed once.
        promise.futureResult.whenComplete { _ in self.releaseSlot() }
        let id = self.state.withLockedValue { s -> Int64? in
            if s.closed { return nil }
            s.nextID += 1
            s.pending[s.nextID] = promise
            return s.nextID
        }
        guard let id else {
            let error = RPCClientError(.connectionClosed, "connection closed")
            promise.fail(error)
            throw error
        }
        var data: Data
        if let hot = params as? any JSONWritable {
            // The hot path's requests (leases, reports) are written by hand.
            data = Data(writeRequest(id: id, method: method, params: hot))
        } else {
            do {
                data = try JSONCoding.encoder.encode(RPCRequest(id: .int(id), method: method, params: params))
            } catch {
                self.fail(id: id, error: error)
                throw error
            }
        }
        // The server refuses lines over its limit without being able to say which request it was.
        guard data.count <= self.maximumRequestBytes else {
            let error = RPCError(
                .limitExceeded, "request of \(data.count) bytes exceeds the \(self.maximumRequestBytes)-byte line limit",
                details: ["bytes": .int(Int64(data.count))])
            self.fail(id: id, error: error)
            throw error
        }
        data.append(UInt8(ascii: "\n"))
        return try await withTaskCancellationHandler {
            do {
                try await self.outbound.write(ByteBuffer(bytes: data))
            } catch {
                self.fail(id: id, error: RPCClientError(.connectionClosed, "connection closed: \(error)"))
            }
            return try await promise.futureResult.get()
        } onCancel: {
            self.fail(id: id, error: CancellationError())
        }
    }

    /// Waits for one of the `maximumInFlight` slots (at once when one is free).
    private func acquireSlot() async throws {
        let waiterID = self.state.withLockedValue { s -> UInt64? in
            if s.inFlight < self.maximumInFlight {
                s.inFlight += 1
                return nil
            }
            s.nextSlotWaiter += 1
            return s.nextSlotWaiter
        }
        guard let waiterID else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
                let ready = self.state.withLockedValue { s -> Bool in
                    // A slot may have been freed (or the task cancelled) since we looked.
                    if Task.isCancelled { return false }
                    if s.inFlight < self.maximumInFlight {
                        s.inFlight += 1
                        return true
                    }
                    s.slotWaiters.append((waiterID, cont))
                    return false
                }
                if ready {
                    cont.resume()
                } else if Task.isCancelled {
                    cont.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let cont = self.state.withLockedValue { s -> CheckedContinuation<Void, any Error>? in
                guard let i = s.slotWaiters.firstIndex(where: { $0.id == waiterID }) else { return nil }
                return s.slotWaiters.remove(at: i).continuation
            }
            cont?.resume(throwing: CancellationError())
        }
    }

    /// Frees a slot, handing it straight to the longest waiter if there is one.
    private func releaseSlot() {
        let next = self.state.withLockedValue { s -> CheckedContinuation<Void, any Error>? in
            if !s.slotWaiters.isEmpty { return s.slotWaiters.removeFirst().continuation }  // the slot moves on
            s.inFlight -= 1
            return nil
        }
        next?.resume()
    }

    private func fail(id: Int64, error: any Error) {
        let promise = self.state.withLockedValue { $0.pending.removeValue(forKey: id) }
        promise?.fail(error)
    }

    /// Routes one line to its caller; returns it when it is a notification from the server.
    private func deliver(_ line: [UInt8]) -> RPCNotification? {
        // One parse of the line by our parser, whose tree the caller reads its result from (a
        // JSONDecoder pass for the id alone was a tenth of a busy agent's CPU). Lines it cannot
        // hold (numbers beyond a Double) are routed by the Codable decoder as before.
        let tree = try? JSONValue(jsonUTF8: line)
        if let tree, tree["id"] == nil, case .string(let method)? = tree["method"] {
            return RPCNotification(method: method, params: tree["params"])
        }
        let routed: Int64?
        if let tree {
            if case .int(let id)? = tree["id"] { routed = id } else { routed = nil }
        } else if let decoded = try? JSONCoding.decoder.decode(RPCResponseID.self, from: Data(line)),
            case .int(let id)? = decoded.id
        {
            routed = id
        } else {
            routed = nil
        }
        guard let id = routed else {
            // An error without an id (the server could not read a request of ours: too long, not
            // JSON) cannot be routed. Fail every call in flight rather than let one wait forever.
            let error = (try? JSONCoding.decoder.decode(RPCResponse<JSONValue>.self, from: Data(line)))?.error
                ?? RPCError(.internalError, "unroutable answer from the server")
            let pending = self.state.withLockedValue { s -> [EventLoopPromise<Answer>] in
                defer { s.pending.removeAll() }
                return Array(s.pending.values)
            }
            for p in pending { p.fail(error) }
            return nil
        }
        let promise = self.state.withLockedValue { $0.pending.removeValue(forKey: id) }
        promise?.succeed(Answer(bytes: line, tree: tree))
        return nil
    }

    private func markClosed() {
        let (pending, waiters) = self.state.withLockedValue { s in
            s.closed = true
            let p = s.pending
            let w = s.closeWaiters
            s.pending = [:]
            s.closeWaiters = []
            return (p, w)
        }
        for (_, p) in pending { p.fail(RPCClientError(.connectionClosed, "connection closed")) }
        for w in waiters { w.resume() }
    }
}
