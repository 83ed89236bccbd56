import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The terminal of a full-screen watch: the alternate screen, no echo, keys one at a time.
/// ``restore()`` gives it back as it was (also after SIGINT or SIGTERM: the watch handles them).
final class Terminal: @unchecked Sendable {
    private var saved = termios()
    private var raw = false
    private let lock = NSLock()

    /// Whether file descriptor `fd` is a terminal.
    static func isTTY(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// Columns and rows of the terminal on standard output (80×24 when it does not say).
    static func size() -> (width: Int, height: Int) {
        var w = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &w) == 0, w.ws_col > 0, w.ws_row > 0 else { return (80, 24) }
        return (Int(w.ws_col), Int(w.ws_row))
    }

    /// Keys without Enter and without echo (signals stay: Ctrl-C is SIGINT), then the
    /// alternate screen with the cursor hidden.
    func enter() {
        self.lock.withLock {
            if tcgetattr(STDIN_FILENO, &self.saved) == 0 {
                var t = self.saved
                t.c_lflag &= ~tcflag_t(ICANON | ECHO)
                withUnsafeMutableBytes(of: &t.c_cc) { cc in
                    cc[Int(VMIN)] = 1
                    cc[Int(VTIME)] = 0
                }
                self.raw = tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0
            }
            Self.write("\u{1B}[?1049h\u{1B}[?25l\u{1B}[H\u{1B}[2J")
        }
    }

    /// Back to the normal screen, the cursor shown, the keys as before. Safe to call twice.
    func restore() {
        self.lock.withLock {
            Self.write("\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
            if self.raw {
                tcsetattr(STDIN_FILENO, TCSANOW, &self.saved)
                self.raw = false
            }
        }
    }

    /// Draws `lines` over the last frame, from the top: each line cleared to its end, the rest
    /// of the screen cleared below (no full clear: it would flicker).
    func draw(_ lines: [String]) {
        var frame = "\u{1B}[H"
        for (i, line) in lines.enumerated() {
            frame += line + "\u{1B}[K"
            if i < lines.count - 1 { frame += "\r\n" }
        }
        frame += "\u{1B}[J"
        self.lock.withLock { Self.write(frame) }
    }

    /// The bytes of standard input, one read at a time, on a thread of their own (a blocking
    /// read); ends at end of file.
    static func keys() -> AsyncStream<UInt8> {
        AsyncStream { continuation in
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 64)
                while true {
                    let n = read(STDIN_FILENO, &buffer, buffer.count)
                    if n < 0 && errno == EINTR { continue }
                    guard n > 0 else { break }
                    for b in buffer[0..<n] { continuation.yield(b) }
                }
                continuation.finish()
            }
            thread.start()
        }
    }

    /// Writes all of `text` to standard output.
    static func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            bytes = bytes.dropFirst(n)
        }
    }
}
