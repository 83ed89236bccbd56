#if canImport(Glibc)
import Glibc
#endif

/// Hands freed heap memory back to the system (glibc's `malloc_trim`), found at run time: its
/// header is not part of Swift's Glibc module, and a libc without it simply keeps the memory.
enum MemoryTrim {
    private typealias Trim = @convention(c) (Int) -> Int32

    private static let trim: Trim? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: Trim.self)
    }()

    /// After a flood of connections went: glibc keeps the freed buffers in its arenas otherwise,
    /// and the process stays at its peak size.
    static func release() {
        _ = Self.trim?(0)
    }
}
