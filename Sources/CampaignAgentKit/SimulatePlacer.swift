import CampaignCore
import CampaignProtocol

#if canImport(Glibc)
import Glibc
#endif

/// Draws outcomes and durations from a seeded distribution, for demos, tests and benchmarks.
///
/// The draw depends only on the seed and the idempotency key, so a run is reproducible
/// whatever order the agents take the jobs in.
public struct SimulatePlacer: Placer {
    public struct Configuration: Sendable, Equatable {
        public var seed: UInt64
        /// Relative weights of the outcomes.
        public var weights: [(CallOutcome, Double)]
        /// Call duration range in milliseconds (answered and voicemail calls; others take a tenth).
        public var durationMs: ClosedRange<Int>
        /// When set, every placed call appends `<idempotency key>\n` to this file before it
        /// "rings" — the simulated provider's own record, which tests use to count dials.
        public var dialLogPath: String?

        public init(
            seed: UInt64 = 1,
            weights: [(CallOutcome, Double)] = [
                (.answered, 55), (.voicemail, 15), (.noAnswer, 15), (.busy, 7), (.rejected, 3), (.failed, 5),
            ],
            durationMs: ClosedRange<Int> = 200...1200, dialLogPath: String? = nil
        ) {
            self.seed = seed
            self.weights = weights
            self.durationMs = durationMs
            self.dialLogPath = dialLogPath
        }

        public static func == (a: Self, b: Self) -> Bool {
            a.seed == b.seed && a.durationMs == b.durationMs
                && a.weights.map(\.0) == b.weights.map(\.0) && a.weights.map(\.1) == b.weights.map(\.1)
        }
    }

    public let configuration: Configuration
    public var provider: String { "simulate" }

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Outcome weights from `ANSWERED=55,VOICEMAIL=15,…` (outcomes not named get weight 0); an
    /// empty text gives the defaults.
    public static func parseWeights(_ text: String) throws(ConfigurationError) -> [(CallOutcome, Double)] {
        let pairs = try KeyValueList.parse(text)
        if pairs.isEmpty { return Configuration().weights }
        var weights: [(CallOutcome, Double)] = []
        for (key, value) in pairs {
            guard let outcome = CallOutcome(rawValue: key.uppercased()) else {
                throw ConfigurationError("unknown outcome \(key)")
            }
            guard let w = Double(value), w.isFinite, w >= 0 else {
                throw ConfigurationError("weight of \(key) must be a number ≥ 0, got \(value)")
            }
            weights.append((outcome, w))
        }
        guard weights.contains(where: { $0.1 > 0 }) else { throw ConfigurationError("at least one weight must be > 0") }
        return weights
    }

    /// The outcome and duration for a key, without waiting.
    public func draw(idempotencyKey: String) -> (CallOutcome, Int) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a of the key, mixed with the seed
        for b in idempotencyKey.utf8 {
            hash = (hash ^ UInt64(b)) &* 0x0100_0000_01b3
        }
        var rng = SplitMix64(seed: hash ^ self.configuration.seed)
        let total = self.configuration.weights.reduce(0) { $0 + max(0, $1.1) }
        var pick = Double.random(in: 0..<max(total, .leastNonzeroMagnitude), using: &rng)
        var outcome = self.configuration.weights.last?.0 ?? .answered
        for (o, w) in self.configuration.weights {
            if pick < max(0, w) {
                outcome = o
                break
            }
            pick -= max(0, w)
        }
        var ms = Int.random(in: self.configuration.durationMs, using: &rng)
        if outcome != .answered && outcome != .voicemail { ms = max(1, ms / 10) }
        return (outcome, ms)
    }

    public func place(_ request: CallRequest) async -> PlacedCall {
        if let path = self.configuration.dialLogPath { Self.append(request.idempotencyKey + "\n", to: path) }
        let (outcome, ms) = self.draw(idempotencyKey: request.idempotencyKey)
        // A 0 ms call ends at once (a zero sleep still schedules a timer on the global executor).
        if ms > 0 { try? await Task.sleep(for: .milliseconds(ms)) }
        return PlacedCall(
            outcome: outcome, providerCallId: "sim-" + request.idempotencyKey, durationMs: ms,
            detail: ["simulated": true])
    }

    /// One `write(2)` with O_APPEND: lines from several agent processes never interleave.
    static func append(_ line: String, to path: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress, $0.count) }
    }
}
