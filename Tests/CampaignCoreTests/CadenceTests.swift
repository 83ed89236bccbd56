import CampaignCore
import Testing

/// The "is it due?" decision of the maintenance duties, on instants the test picks.
@Suite("Cadence")
struct CadenceTests {
    /// The claims answered at each instant, in order, with one interval.
    static func claims(_ instants: [ContinuousClock.Instant], every interval: Duration) -> ([Bool], Cadence) {
        var c = Cadence()
        let answers = instants.map { c.claim(at: $0, every: interval) }
        return (answers, c)
    }

    @Test func dueAtOnceThenOncePerInterval() {
        let t0 = ContinuousClock.now
        #expect(Cadence().lastRun == nil)
        let (answers, c) = Self.claims(
            [t0, t0, t0 + .seconds(59), t0 + .seconds(60), t0 + .seconds(61), t0 + .seconds(120)], every: .seconds(60))
        #expect(answers == [true, false, false, true, false, true])
        #expect(c.lastRun == t0 + .seconds(120))
    }

    @Test func aRefusedClaimDoesNotMoveTheLastRun() {
        let t0 = ContinuousClock.now
        let (answers, c) = Self.claims([t0, t0 + .seconds(59)], every: .seconds(60))
        #expect(answers == [true, false])
        #expect(c.lastRun == t0)
    }

    @Test func aShorterIntervalTakesEffectAtTheNextClaim() {
        let t0 = ContinuousClock.now
        var c = Cadence()
        let first = c.claim(at: t0, every: .seconds(3600))
        let early = c.claim(at: t0 + .seconds(30), every: .seconds(3600))
        let shorter = c.claim(at: t0 + .seconds(30), every: .seconds(10))
        #expect([first, early, shorter] == [true, false, true])
    }

    @Test func anInstantBeforeTheLastRunIsNotDue() {
        let t0 = ContinuousClock.now
        let (answers, _) = Self.claims([t0, t0 - .seconds(5)], every: .seconds(1))
        #expect(answers == [true, false])
    }
}
