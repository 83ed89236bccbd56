import CampaignCore
import CampaignProtocol
import Foundation
import NIOConcurrencyHelpers
import Subprocess

#if canImport(Glibc)
import Glibc
#endif

/// Places each call by running a configured command (DESIGN §8).
///
/// The contract with the command (README, "Placing calls"):
/// - the call request arrives as one JSON object on stdin; the environment also carries
///   `CAMPAIGN_IDEMPOTENCY_KEY` and `CAMPAIGN_CALL_TIMEOUT_SECONDS` (time left);
/// - exit 0 with `{"outcome": "ANSWERED", "providerCallId": …, "durationMs": …, "detail": …}` on
///   stdout reports the call; `"outcome": "UNKNOWN"` says the command placed (or may have placed)
///   a call whose end it could not learn;
/// - a non-zero exit means "no call was placed": the job fails with outcome `FAILED` and is
///   retried like any `FAILED` call;
/// - exit 0 with something else on stdout, death by a signal, or still running at the call's
///   hard limit mean the call may have happened: the job fails for good (outcome unknown),
///   never redialed by itself. At the limit the command's whole process group is killed.
public struct ExecPlacer: Placer {
    public struct Configuration: Sendable, Equatable {
        /// Path of the command (absolute, or relative to the working directory).
        public var command: String
        public var arguments: [String]
        /// Most stdout bytes read; more makes the answer invalid.
        public var outputLimit: Int
        /// The command that looks a call up (issue 16): the request of the call with
        /// `"lookup": true` (and `providerCallId` when known) on stdin; it prints the outcome as
        /// the placing command does, `{"outcome": "UNKNOWN"}` when it cannot tell (yet), or
        /// `{"outcome": "NOT_PLACED"}` when the provider has no call under the key. Nil: no lookups.
        public var lookupCommand: String?

        public init(command: String, arguments: [String] = [], outputLimit: Int = 64 * 1024, lookupCommand: String? = nil) {
            self.command = command
            self.arguments = arguments
            self.outputLimit = outputLimit
            self.lookupCommand = lookupCommand
        }
    }

    public let configuration: Configuration
    public var provider: String { "exec" }

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// What the run produced, whatever happened.
    struct Run: Sendable {
        var status: TerminationStatus?
        var stdout: [UInt8] = []
        var stdoutOverflow = false
        var stderrTail: [UInt8] = []
        var timedOut = false
    }

    public func place(_ request: CallRequest) async -> PlacedCall {
        let started = ContinuousClock.now
        let run: Run
        do {
            run = try await self.run(
                self.configuration.command, arguments: self.configuration.arguments, body: request.providerBody,
                environment: [
                    "CAMPAIGN_IDEMPOTENCY_KEY": request.idempotencyKey,
                    "CAMPAIGN_CALL_TIMEOUT_SECONDS": String(request.secondsLeft),
                ], deadline: request.deadline)
        } catch {
            return .notPlaced("could not start \(self.configuration.command): \(error)")
        }
        let elapsedMs = Int((ContinuousClock.now - started).components.seconds * 1000)
        return Self.interpret(run, elapsedMs: elapsedMs)
    }

    public var canLookUp: Bool { self.configuration.lookupCommand != nil }

    public func lookup(_ request: LookupRequest) async -> LookupAnswer {
        guard let command = self.configuration.lookupCommand else { return .unknown("no --exec-lookup-command") }
        var environment: [Environment.Key: String] = [
            "CAMPAIGN_IDEMPOTENCY_KEY": request.call.idempotencyKey, "CAMPAIGN_LOOKUP": "1",
            "CAMPAIGN_CALL_TIMEOUT_SECONDS": String(max(1, Int((request.deadline - .now).components.seconds))),
        ]
        if let id = request.call.providerCallId { environment["CAMPAIGN_PROVIDER_CALL_ID"] = id }
        do {
            let run = try await self.run(
                command, arguments: [], body: request.providerBody, environment: environment, deadline: request.deadline)
            return Self.interpretLookup(run, callId: request.call.providerCallId)
        } catch {
            return .unknown("could not start \(command): \(error)")
        }
    }

    /// Maps what the lookup command did to an answer. Only a clean exit with an outcome, or with
    /// `NOT_PLACED`, says something; everything else leaves the call unknown for now. Pure.
    static func interpretLookup(_ run: Run, callId: String?) -> LookupAnswer {
        if run.timedOut { return .unknown("the lookup command was still running at its limit") }
        switch run.status {
        case .exited(0)?:
            // More than the limit is no answer at all (never a NOT_PLACED read from its start).
            if run.stdoutOverflow { return .unknown("the lookup command printed more than the output limit") }
            let text = String(decoding: run.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let object = ProviderJSON.decodeObject(run.stdout)
            let word: String? = if case .string(let s)? = object?["outcome"] { s.uppercased() } else { text.uppercased() }
            switch word {
            case "UNKNOWN"?: return .unknown("the lookup command could not tell")
            case "NOT_PLACED"?: return .notPlaced("the lookup command says the provider has no such call")
            default: break
            }
            guard let object, var placed = ProviderJSON.outcomeReport(object) else {
                return .unknown("the lookup command exited 0 without an outcome: \(ProviderJSON.snippet(run.stdout, limit: 100))")
            }
            if placed.providerCallId == nil { placed.providerCallId = callId }
            return .ended(placed)
        case .exited(let code)?:
            return .unknown("the lookup command exited with status \(code)")
        case .signaled(let signal)?:
            return .unknown("the lookup command was killed by signal \(signal)")
        case nil:
            return .unknown("the lookup command ended without a status")
        }
    }

    /// Maps what the command did to a placed call (the contract above). Pure.
    static func interpret(_ run: Run, elapsedMs: Int) -> PlacedCall {
        var context: [String: JSONValue] = [:]
        if !run.stderrTail.isEmpty { context["stderr"] = .string(ProviderJSON.snippet(run.stderrTail)) }
        if run.timedOut {
            return .unknown("command still running at the call's hard limit; its process group was killed", context)
        }
        switch run.status {
        case .exited(0)?:
            if !run.stdoutOverflow, let object = ProviderJSON.decodeObject(run.stdout),
                case .string(let s)? = object["outcome"], s.uppercased() == "UNKNOWN"
            {
                // The command says itself that it cannot know (it gave up following the call).
                if let extra = object["detail"] { context["command"] = extra }
                return .unknown(
                    "the command could not learn the call's outcome", providerCallId: ProviderJSON.id(object["providerCallId"]),
                    context)
            }
            guard !run.stdoutOverflow, let object = ProviderJSON.decodeObject(run.stdout),
                var placed = ProviderJSON.outcomeReport(object)
            else {
                context["stdout"] = .string(ProviderJSON.snippet(run.stdout))
                return .unknown("command exited 0 without a valid outcome on stdout", context)
            }
            if placed.durationMs == nil { placed.durationMs = elapsedMs }
            return placed
        case .exited(let code)?:
            context["exitStatus"] = .int(Int64(code))
            return .notPlaced("command exited with status \(code)", context)
        case .signaled(let signal)?:
            context["signal"] = .int(Int64(signal))
            return .unknown("command killed by signal \(signal)", context)
        case nil:
            return .unknown("command ended without a status", context)
        }
    }

    /// An unlinked temporary file with `bytes`, positioned at its start.
    static func requestFile(_ bytes: [UInt8]) throws -> Int32 {
        let dir = ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"
        var template = Array((dir + "/campaign-call-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw SystemCallError("mkstemp in \(dir)", errno: errno) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else {
                let e = errno
                close(fd)
                throw SystemCallError("write", errno: e)
            }
            written += n
        }
        lseek(fd, 0, SEEK_SET)
        return fd
    }

    private func run(
        _ command: String, arguments: [String], body: JSONValue, environment extra: [Environment.Key: String],
        deadline: ContinuousClock.Instant
    ) async throws -> Run {
        var options = PlatformOptions()
        options.processGroupID = 0  // its own group: the hard limit kills children too
        // stdin is an unlinked temporary file holding the request: the command reads it at its own
        // pace (or not at all) and no pipe write can fail halfway. (A pipe also trips a
        // swift-subprocess 1.0.2 fatalError when the child exits before reading it.)
        let input = try Self.requestFile(ProviderJSON.encode(body) + [UInt8(ascii: "\n")])
        let environment = Environment.inherit.updating(extra)
        let limit = self.configuration.outputLimit
        let result = try await Subprocess.run(
            .path(.init(command)), arguments: Arguments(arguments),
            environment: environment, platformOptions: options,
            input: .fileDescriptor(.init(rawValue: input), closeAfterSpawningProcess: true),
            output: .sequence, error: .sequence
        ) { execution -> Run in
            let timedOut = NIOLockedValueBox(false)
            // Read both pipes to their end (EOF comes when every process holding them is gone);
            // at the deadline kill the whole group, which ends them.
            return await withTaskGroup(of: Run?.self) { group in
                group.addTask {
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    if Task.isCancelled { return nil }
                    timedOut.withLockedValue { $0 = true }
                    try? execution.send(signal: .kill, toProcessGroup: true)
                    return nil
                }
                group.addTask {
                    var run = Run()
                    do {
                        for try await chunk in execution.standardOutput {
                            chunk.withUnsafeBytes { raw in
                                if run.stdout.count + raw.count > limit {
                                    run.stdoutOverflow = true
                                } else {
                                    run.stdout.append(contentsOf: raw)
                                }
                            }
                        }
                    } catch {}
                    return run
                }
                group.addTask {
                    var run = Run()
                    do {
                        for try await chunk in execution.standardError {
                            chunk.withUnsafeBytes { raw in run.stderrTail.append(contentsOf: raw) }
                            if run.stderrTail.count > 4096 { run.stderrTail.removeFirst(run.stderrTail.count - 4096) }
                        }
                    } catch {}
                    return run
                }
                var combined = Run()
                var readers = 0
                while let part = await group.next() {
                    guard let part else { continue }
                    readers += 1
                    if !part.stdout.isEmpty || part.stdoutOverflow {
                        combined.stdout = part.stdout
                        combined.stdoutOverflow = part.stdoutOverflow
                    }
                    if !part.stderrTail.isEmpty { combined.stderrTail = part.stderrTail }
                    if readers == 2 { group.cancelAll() }
                }
                // The call is over: nothing the command started outlives it.
                try? execution.send(signal: .kill, toProcessGroup: true)
                combined.timedOut = timedOut.withLockedValue { $0 }
                return combined
            }
        }
        var run = result.closureResult
        run.status = result.terminationStatus
        return run
    }
}
