import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// A stand-in for systemd's notify socket: a Unix datagram socket whose path goes in
/// `NOTIFY_SOCKET`; every datagram a daemon sends (`READY=1`, `STATUS=…`, `WATCHDOG=1`, …) is
/// recorded with the time it arrived.
public final class FakeNotifySocket: @unchecked Sendable {
    // `@unchecked Sendable`: the fd is read by one thread; messages live behind a lock.
    public struct Message: Sendable {
        public var text: String
        public var at: ContinuousClock.Instant
    }

    public let path: String
    private let fd: Int32
    private let messages = NIOLockedValueBox<[Message]>([])
    private let stopped = NIOLockedValueBox(false)

    public init(path: String) throws {
        self.path = path
        unlink(path)
        self.fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.prefix(raw.count - 1).enumerated() { raw[i] = b }
        }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(self.fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard ok == 0 else { throw POSIXError(.EADDRINUSE) }
        let thread = Thread { [self] in self.readLoop() }
        thread.start()
    }

    deinit {
        self.close()
    }

    public func close() {
        let wasStopped = self.stopped.withLockedValue { s -> Bool in
            defer { s = true }
            return s
        }
        // The read loop closes the descriptor when it sees `stopped`: closing it here, under a
        // loop still polling it, would let the number be reused (by a libpq connection, say)
        // and the loop would then swallow that connection's bytes.
        if !wasStopped { unlink(self.path) }
    }

    private func readLoop() {
        var buffer = [UInt8](repeating: 0, count: 8192)
        while !self.stopped.withLockedValue({ $0 }) {
            var p = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { continue }
            let n = recv(self.fd, &buffer, buffer.count, 0)
            guard n > 0 else { continue }
            let text = String(decoding: buffer[0..<n], as: UTF8.self)
            self.messages.withLockedValue { $0.append(Message(text: text, at: ContinuousClock.now)) }
        }
        Glibc.close(self.fd)
    }

    /// Every message so far.
    public var all: [Message] { self.messages.withLockedValue { $0 } }

    /// Every `KEY=VALUE` line so far, in order.
    public var lines: [String] { self.all.flatMap { $0.text.split(separator: "\n").map(String.init) } }

    /// Waits until a line satisfying `match` arrives (after `from` lines); returns it or nil.
    public func waitFor(
        from start: Int = 0, within: Duration = .seconds(30), _ match: (String) -> Bool
    ) async -> String? {
        let deadline = ContinuousClock.now + within
        while ContinuousClock.now < deadline {
            let lines = self.lines
            if lines.count > start, let hit = lines[start...].first(where: match) { return hit }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }
}
