import CampaignCore
import Testing

/// How leases are shared among campaigns with jobs due: in proportion to their priorities, none
/// starved, and no burst for a campaign coming back.
@Suite("Fair share of leases among campaigns")
struct FairShareTests {
    /// Picks `n` times among `campaigns` (id, weight), all always ready; answers the picks.
    static func run(_ share: inout FairShare<Int>, _ campaigns: [(id: Int, weight: Int)], _ n: Int) -> [Int] {
        (0..<n).map { _ in share.pick(campaigns)! }
    }

    @Test("always-ready campaigns get leases in proportion to their weights, within campaigns − 1 of the exact share (two: one)")
    func proportional() {
        for weights in [[10, 10], [30, 10], [1, 100], [5, 3, 2], [7, 1, 1, 1], [100, 50, 25, 1]] {
            var share = FairShare<Int>()
            let campaigns = weights.enumerated().map { (id: $0.offset + 1, weight: $0.element) }
            var counts: [Int: Int] = [:]
            let total = weights.reduce(0, +)
            for (k, id) in Self.run(&share, campaigns, total * 20).enumerated() {
                counts[id, default: 0] += 1
                // After every pick, each campaign is within (campaigns − 1) leases of its exact share
                // so far (stride scheduling's bound on the absolute error; one for two campaigns).
                let picks = Double(k + 1)
                let bound = Double(max(1, campaigns.count - 1))
                for c in campaigns {
                    let exact = picks * Double(c.weight) / Double(total)
                    #expect(abs(Double(counts[c.id, default: 0]) - exact) <= bound, "weights \(weights) after \(k + 1)")
                }
            }
            for c in campaigns { #expect(counts[c.id] == c.weight * 20, "weights \(weights)") }
        }
    }

    @Test("no campaign waits more than total weight / its weight picks (rounded up) for its next lease")
    func neverStarved() {
        var share = FairShare<Int>()
        let campaigns = [(id: 1, weight: 100), (id: 2, weight: 1), (id: 3, weight: 7)]
        let picks = Self.run(&share, campaigns, 5_000)
        for c in campaigns {
            let bound = (108 + c.weight - 1) / c.weight + 1
            var last = -1
            for (i, id) in picks.enumerated() where id == c.id {
                #expect(i - last <= bound, "campaign \(c.id) waited \(i - last) picks")
                last = i
            }
            #expect(picks.count - 1 - last <= bound)
        }
    }

    @Test("a campaign without jobs or headroom is left out; the others share what is left")
    func onlyCandidatesArePicked() {
        var share = FairShare<Int>()
        #expect(share.pick([]) == nil)
        let picks = Self.run(&share, [(id: 2, weight: 1)], 50)
        #expect(picks == Array(repeating: 2, count: 50))
    }

    @Test("a campaign coming back after a pause gets its share from then on, not a burst for the time away")
    func noBurstOnReturn() {
        var share = FairShare<Int>()
        // Campaign 1 alone for a long time, then campaign 2 (same weight) joins.
        _ = Self.run(&share, [(id: 1, weight: 10)], 1_000)
        var run = Self.run(&share, [(id: 1, weight: 10), (id: 2, weight: 10)], 20)
        #expect(run.filter { $0 == 1 }.count == 10)
        // Campaign 2 leaves (paused) while 1 goes on, then comes back: alternate again at once.
        _ = Self.run(&share, [(id: 1, weight: 10)], 500)
        run = Self.run(&share, [(id: 1, weight: 10), (id: 2, weight: 10)], 20)
        #expect(run.filter { $0 == 2 }.count == 10)
        #expect(zip(run, run.dropFirst()).allSatisfy { $0 != $1 }, "\(run)")
    }

    @Test("ties go to the heavier campaign, then the lower id; retain forgets ended campaigns")
    func ties() {
        var share = FairShare<Int>()
        #expect(share.pick([(id: 5, weight: 1), (id: 9, weight: 3)]) == 9)
        var fresh = FairShare<Int>()
        #expect(fresh.pick([(id: 9, weight: 2), (id: 5, weight: 2)]) == 5)
        fresh.retain([9])
        // 5 was forgotten: it starts at the present pass, as a new campaign does, and wins the tie.
        #expect(fresh.pick([(id: 9, weight: 2), (id: 5, weight: 2)]) == 5)
    }
}
