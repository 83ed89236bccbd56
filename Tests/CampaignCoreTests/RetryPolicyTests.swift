import CampaignCore
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("RetryPolicy: exponential backoff with full jitter")
struct RetryPolicyTests {
    @Test("the ceiling doubles from the base and stops at the cap")
    func ceilingGrowth() {
        let p = RetryPolicy(baseMs: 60_000, factor: 2, capMs: 3_600_000)
        let expected: [Int: Int] = [
            0: 60_000, 1: 60_000, 2: 120_000, 3: 240_000, 4: 480_000, 5: 960_000, 6: 1_920_000,
            7: 3_600_000,  // 3,840,000 capped
            8: 3_600_000, 30: 3_600_000,
        ]
        for (attempt, ceiling) in expected {
            #expect(p.ceilingMs(afterAttempt: attempt) == ceiling, "after attempt \(attempt)")
        }
        #expect(RetryPolicy() == p, "the defaults")
    }

    @Test func nonIntegerFactor() {
        let p = RetryPolicy(baseMs: 1000, factor: 1.5, capMs: 1_000_000)
        #expect(p.ceilingMs(afterAttempt: 1) == 1000)
        #expect(p.ceilingMs(afterAttempt: 2) == 1500)
        #expect(p.ceilingMs(afterAttempt: 3) == 2250)
        #expect(p.ceilingMs(afterAttempt: 4) == 3375)
    }

    @Test("the ceiling is monotonic in the attempt and never above the cap")
    func monotonicAndCapped() {
        for (base, factor, cap) in [(1, 2.0, 1), (1000, 1.0, 50_000), (1000, 3.0, 50_000), (90_000, 2.0, 60_000)] {
            let p = RetryPolicy(baseMs: base, factor: factor, capMs: cap)
            var previous = 0
            for attempt in 0...200 {
                let c = p.ceilingMs(afterAttempt: attempt)
                #expect(c >= previous && c <= cap, "\(p) after \(attempt): \(c)")
                previous = c
            }
        }
        // A base above the cap is cut to the cap.
        #expect(RetryPolicy(baseMs: 90_000, factor: 2, capMs: 60_000).ceilingMs(afterAttempt: 1) == 60_000)
    }

    @Test("huge attempt numbers saturate at the cap instead of overflowing")
    func hugeAttempts() {
        for factor in [1.5, 2, 10] {
            let p = RetryPolicy(baseMs: 60_000, factor: factor, capMs: 604_800_000)
            for attempt in [64, 1_000, 1 << 40, Int.max] {
                #expect(p.ceilingMs(afterAttempt: attempt) == 604_800_000)
                #expect(p.delayMs(afterAttempt: attempt, unit: 1) == 604_800_000)
            }
        }
        #expect(RetryPolicy().ceilingMs(afterAttempt: -5) == 60_000)
    }

    /// `retryFactor` 1 is a valid setting (`AutomationSettings.problems()` allows 1…10): a
    /// constant backoff. The step-by-step multiplication never reaches the cap then, so the loop
    /// runs attemptsMade − 1 times: effectively forever for huge attempt numbers.
    /// The child process gets one second before SIGALRM ends it.
    @Test("a factor of 1 with a huge attempt number answers at once")
    func factorOneHugeAttempt() async {
        await #expect(processExitsWith: .success) {
            alarm(1)
            let p = RetryPolicy(baseMs: 60_000, factor: 1, capMs: 3_600_000)
            precondition(p.ceilingMs(afterAttempt: Int.max) == 60_000)
            precondition(p.ceilingMs(afterAttempt: 1 << 50) == 60_000)
        }
    }

    /// `RetryPolicy` is public and `Codable` with no validation of its own: a cap of `Int.max`
    /// makes `Int(Double(Int.max))` (2^63) trap.
    @Test("a cap as large as Int.max does not trap")
    func hugeCap() async {
        await #expect(processExitsWith: .success) {
            let p = RetryPolicy(baseMs: 1, factor: 2, capMs: .max)
            precondition(p.ceilingMs(afterAttempt: 200) > 0)
        }
    }

    @Test("the delay lies in [0, ceiling] for any unit, clamped outside [0, 1]")
    func delayWithinBounds() {
        var rng = SplitMix64(seed: 42)
        let p = RetryPolicy(baseMs: 1_000, factor: 2, capMs: 300_000)
        for attempt in 1...12 {
            let ceiling = p.ceilingMs(afterAttempt: attempt)
            for _ in 0..<500 {
                let unit = Double.random(in: 0...1, using: &rng)
                let d = p.delayMs(afterAttempt: attempt, unit: unit)
                #expect(d >= 0 && d <= ceiling, "attempt \(attempt), unit \(unit): \(d) vs \(ceiling)")
            }
            #expect(p.delayMs(afterAttempt: attempt, unit: -0.5) == 0)
            #expect(p.delayMs(afterAttempt: attempt, unit: -.infinity) == 0)
            #expect(p.delayMs(afterAttempt: attempt, unit: 1.5) == ceiling)
            #expect(p.delayMs(afterAttempt: attempt, unit: .infinity) == ceiling)
        }
    }

    @Test("full jitter reaches both ends of the range")
    func jitterExtremes() {
        let p = RetryPolicy(baseMs: 60_000, factor: 2, capMs: 3_600_000)
        #expect(p.delayMs(afterAttempt: 3, unit: 0) == 0)
        #expect(p.delayMs(afterAttempt: 3, unit: .leastNonzeroMagnitude) == 0)
        #expect(p.delayMs(afterAttempt: 3, unit: 1) == 240_000)
        #expect(p.delayMs(afterAttempt: 3, unit: 1.0.nextDown) == 239_999)
        #expect(p.delayMs(afterAttempt: 3, unit: 0.5) == 120_000)
        #expect(p.delayMs(afterAttempt: 100, unit: 1.0.nextDown) == 3_599_999)
    }

    @Test("uniform units give delays spread over the whole range (mean ≈ ceiling / 2)")
    func jitterIsSpread() {
        var rng = SplitMix64(seed: 7)
        let p = RetryPolicy(baseMs: 10_000, factor: 2, capMs: 1_000_000)
        let n = 20_000
        var sum = 0
        var low = 0
        var high = 0
        for _ in 0..<n {
            let d = p.delayMs(afterAttempt: 4, unit: Double.random(in: 0..<1, using: &rng))  // ceiling 80,000
            sum += d
            if d < 8_000 { low += 1 }
            if d >= 72_000 { high += 1 }
        }
        let mean = Double(sum) / Double(n)
        #expect(abs(mean - 40_000) < 1_000, "mean \(mean)")
        #expect(low > n / 20 && high > n / 20, "both tenths of the range are hit: \(low) \(high)")
    }

    @Test func codableRoundTrip() throws {
        let p = RetryPolicy(baseMs: 1_500, factor: 1.5, capMs: 90_000)
        let data = try JSONEncoder().encode(p)
        #expect(try JSONDecoder().decode(RetryPolicy.self, from: data) == p)
    }
}
