#if canImport(Glibc)
import Glibc
#endif

/// A Unix stream socket with no framework around it, non-blocking: what a test sends is what the
/// kernel took, and nothing is read unless the test reads it. (For measuring what a server
/// buffers: a client of its own with buffers of its own would blur the numbers.)
public final class NonBlockingSocket: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private let fd: Int32

    public init(path: String) throws {
        // Close-on-exec: the binaries other tests start must not inherit it (the server would
        // not see it close).
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            close(fd)
            throw Failure(description: "path too long")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            close(fd)
            throw Failure(description: "connect: errno \(errno)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        self.fd = fd
    }

    deinit { close(self.fd) }

    /// Writes what the kernel takes now; returns how many bytes (0 when it would block).
    public func trySend(_ bytes: ArraySlice<UInt8>) throws -> Int {
        let n = bytes.withUnsafeBytes { send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { return 0 }
            throw Failure(description: "send: errno \(errno)")
        }
        return n
    }

    /// Reads what is there now (0 bytes when nothing is; nil at end of stream).
    public func tryReceive(max: Int = 1 << 16) throws -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: max)
        let n = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, max, 0) }
        if n < 0 {
            if errno == EAGAIN || errno == EWOULDBLOCK { return [] }
            throw Failure(description: "recv: errno \(errno)")
        }
        if n == 0 { return nil }
        return Array(buffer[..<n])
    }
}
