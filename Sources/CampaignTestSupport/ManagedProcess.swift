import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One of the real binaries, started by a test, with its stderr kept in a file.
public final class ManagedProcess: @unchecked Sendable {
    // `@unchecked Sendable`: `Process` is thread-safe for the calls used here (pid, signals, wait).
    public let name: String
    public let process: Process
    public let logPath: String

    /// The directory holding the built products: `CAMPAIGN_BIN_DIR`, else the test bundle's.
    public static func binDirectory() throws -> URL {
        if let dir = ProcessInfo.processInfo.environment["CAMPAIGN_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        // …/debug/campaign-callsPackageTests.xctest (a file on Linux)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.isExecutableFile(atPath: url.appendingPathComponent("campaign-coordinator").path) {
                return url
            }
        }
        struct NotBuilt: Error, CustomStringConvertible {
            var description: String { "campaign binaries not found next to the test bundle: run `swift build` first (scripts/test does)" }
        }
        throw NotBuilt()
    }

    /// Starts `binary` (a product name) with arguments and extra environment.
    public init(_ binary: String, _ arguments: [String], environment: [String: String] = [:], logDir: URL, name: String? = nil) throws {
        self.name = name ?? (binary as NSString).lastPathComponent
        self.process = Process()
        self.process.executableURL =
            binary.hasPrefix("/") ? URL(fileURLWithPath: binary) : try Self.binDirectory().appendingPathComponent(binary)
        self.process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "NOTIFY_SOCKET")
        env.removeValue(forKey: "LISTEN_FDS")
        for (k, v) in environment { env[k] = v }
        self.process.environment = env
        self.logPath = logDir.appendingPathComponent("\(self.name).log").path
        _ = FileManager.default.createFile(atPath: self.logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: self.logPath)!
        self.process.standardError = log
        self.process.standardOutput = log
        try self.process.run()
    }

    public var pid: Int32 { self.process.processIdentifier }
    public var isRunning: Bool { self.process.isRunning }

    public func signal(_ sig: Int32) {
        if self.process.isRunning { kill(self.pid, sig) }
    }

    /// Waits for the exit (polling; returns nil on timeout).
    public func waitExit(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while self.process.isRunning {
            if ContinuousClock.now > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return self.process.terminationStatus
    }

    /// SIGTERM, then SIGKILL after `grace`; returns the exit status of a graceful stop, or nil.
    @discardableResult
    public func stop(grace: Duration = .seconds(10)) async -> Int32? {
        self.signal(SIGTERM)
        if let status = await self.waitExit(timeout: grace) { return status }
        self.signal(SIGKILL)
        _ = await self.waitExit(timeout: .seconds(5))
        return nil
    }

    public func log() -> String {
        (try? String(contentsOfFile: self.logPath, encoding: .utf8)) ?? ""
    }
}

/// Runs a binary to completion and returns its exit status, stdout and stderr.
public func runToCompletion(
    _ binary: String, _ arguments: [String], environment: [String: String] = [:], stdin: String? = nil
) async throws -> (status: Int32, stdout: String, stderr: String) {
    let p = Process()
    // A path as it is; a bare name is one of the package's binaries.
    p.executableURL =
        binary.hasPrefix("/") ? URL(fileURLWithPath: binary) : try ManagedProcess.binDirectory().appendingPathComponent(binary)
    p.arguments = arguments
    var env = ProcessInfo.processInfo.environment
    for (k, v) in environment { env[k] = v }
    p.environment = env
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    if let stdin {
        let input = Pipe()
        p.standardInput = input
        try p.run()
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
    } else {
        p.standardInput = FileHandle.nullDevice
        try p.run()
    }
    // Read both pipes to the end and wait for the exit on Dispatch's threads, not Swift's
    // cooperative pool: these calls block for the child's whole life, and the cooperative pool
    // has one thread per core — two blocked threads on a 2-core machine stall every task of the
    // test process (in-process coordinators, HTTP clients, timers) until the child ends.
    async let o = blocking { out.fileHandleForReading.readDataToEndOfFile() }
    async let e = blocking { err.fileHandleForReading.readDataToEndOfFile() }
    let (od, ed) = await (o, e)
    await blocking { p.waitUntilExit() }
    return (p.terminationStatus, String(decoding: od, as: UTF8.self), String(decoding: ed, as: UTF8.self))
}

/// Runs a blocking call on a Dispatch worker thread and awaits its result.
public func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { (c: CheckedContinuation<T, Never>) in
        DispatchQueue.global().async { c.resume(returning: body()) }
    }
}

/// ``blocking(_:)`` for a call that throws: a test's blocking database calls and long CPU-bound
/// loops go here, so they leave the test process's cooperative threads (two on this machine) to
/// the in-process coordinators and clients of the suites running beside them.
public func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
        DispatchQueue.global().async { c.resume(with: Result { try body() }) }
    }
}
