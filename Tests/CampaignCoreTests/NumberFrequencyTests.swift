import CampaignCore
import Foundation
import Testing

/// Calls per number (issue 15): the rolling 24 hours, the local day, the law's cap and the
/// operator's, and when the next call is allowed.
@Suite("Number frequency caps")
struct NumberFrequencyTests {
    static let newYork = TimeZone(identifier: "America/New_York")!
    /// 2026-12-02 00:00 UTC.
    static let t0 = Date(timeIntervalSince1970: 1_796_169_600)

    static func hours(_ h: Double) -> Date { Self.t0.addingTimeInterval(h * 3600) }

    @Test func theLawsCapAndTheOperatorsTheLowerWins() {
        #expect(NumberFrequencyCap.combined(legal: 3, operator: 5).per24h == 3)
        #expect(NumberFrequencyCap.combined(legal: 3, operator: 2).per24h == 2)
        #expect(NumberFrequencyCap.combined(legal: nil, operator: 4).per24h == 4)
        #expect(NumberFrequencyCap.combined(legal: nil, operator: nil) == .none)
    }

    @Test func aFourthCallWaitsUntilTheFirstIsADayOld() {
        let cap = NumberFrequencyCap(per24h: 3)
        let calls = [Self.hours(0), Self.hours(1), Self.hours(2)]
        let next = cap.nextAllowed(after: Self.hours(3), calls: calls, in: Self.newYork)
        // Exactly a day after the first: the window is the 24 hours up to now, the first start
        // not included (as PostgreSQL counts it, `at > now - 24 h`).
        #expect(abs(next.timeIntervalSince(Self.hours(24))) < 0.000_001)
        // A microsecond before, the first is still in the window: the answer is still that instant.
        let justBefore = Self.hours(24).addingTimeInterval(-0.000_001)
        #expect(abs(cap.nextAllowed(after: justBefore, calls: calls, in: Self.newYork).timeIntervalSince(Self.hours(24))) < 0.000_000_5)
        // Past it: at once.
        let later = Self.hours(24.5)
        #expect(cap.nextAllowed(after: later, calls: calls, in: Self.newYork) == later)
        // Under the cap: at once.
        #expect(cap.nextAllowed(after: Self.hours(3), calls: Array(calls.prefix(2)), in: Self.newYork) == Self.hours(3))
        // The order they come in does not matter.
        #expect(cap.nextAllowed(after: Self.hours(3), calls: calls.reversed(), in: Self.newYork) == next)
    }

    @Test func overTheCapAlreadyWaitsUntilEnoughHaveLeft() {
        // Five calls (the cap was lowered since): the next one when only two are in the window.
        let cap = NumberFrequencyCap(per24h: 3)
        let calls = (0..<5).map { Self.hours(Double($0)) }
        let next = cap.nextAllowed(after: Self.hours(5), calls: calls, in: Self.newYork)
        #expect(abs(next.timeIntervalSince(Self.hours(26))) < 0.001)
    }

    @Test func aDailyCapWaitsForTheNextLocalMidnightAcrossAClockChange() {
        let cap = NumberFrequencyCap(perLocalDay: 2)
        // Saturday 7 March 2026, 09:00 and 10:00 in New York (EST, UTC-5).
        let nineAM = Date(timeIntervalSince1970: 1_772_892_000)
        let calls = [nineAM, nineAM.addingTimeInterval(3600)]
        let next = cap.nextAllowed(after: nineAM.addingTimeInterval(7200), calls: calls, in: Self.newYork)
        // Sunday 8 March 00:00 EST = 05:00 UTC (the clocks change at 02:00 that night).
        #expect(next == Date(timeIntervalSince1970: 1_772_946_000))
    }

    @Test func aCapOfZeroNeverAllows() {
        #expect(NumberFrequencyCap(per24h: 0).nextAllowed(after: Self.t0, calls: [], in: Self.newYork) == .distantFuture)
        #expect(NumberFrequencyCap(perLocalDay: 0).nextAllowed(after: Self.t0, calls: [], in: Self.newYork) == .distantFuture)
    }

    /// Any calls, any caps: the answer is within both caps, and a moment before it is not.
    @Test func theNextAllowedInstantIsTheFirstWithinBothCaps() {
        var rng = SplitMix64(seed: 1200)
        let zone = Self.newYork
        func within(_ cap: NumberFrequencyCap, _ calls: [Date], at t: Date) -> Bool {
            if let c = cap.per24h, calls.filter({ $0 > t.addingTimeInterval(-86_400) && $0 <= t }).count >= c { return false }
            if let c = cap.perLocalDay, calls.filter({ $0 <= t && LocalTime($0, zone).day == LocalTime(t, zone).day }).count >= c {
                return false
            }
            return true
        }
        var failures: [String] = []
        for i in 0..<2000 {
            let now = Self.hours(72 + Double(rng.next() % 48))
            let calls = (0..<Int(rng.next() % 8)).map { _ in now.addingTimeInterval(-Double(rng.next() % (60 * 60 * 60))) }
            let cap = NumberFrequencyCap(
                per24h: rng.next() % 3 == 0 ? nil : Int(1 + rng.next() % 4), perLocalDay: rng.next() % 2 == 0 ? nil : Int(1 + rng.next() % 4))
            let next = cap.nextAllowed(after: now, calls: calls, in: zone)
            if next < now || !within(cap, calls, at: next) { failures.append("#\(i): \(next) not allowed") }
            if next > now, within(cap, calls, at: next.addingTimeInterval(-0.001)) { failures.append("#\(i): \(next) not the first") }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
    }

    @Test func thePolicyDefersACallOverTheCapUntilTheNumberIsFreeAndTheWindowOpen() {
        let local = { (text: String) in JurisdictionTests.local(text, Self.newYork) }
        let policy = EligibilityPolicy(
            windows: CallingWindows(windows: [.init(isoWeekdays: Set(1...7), startSecond: 9 * 3600, endSecond: 17 * 3600)]),
            cooldownSeconds: 0)
        let cap = NumberFrequencyCap.combined(legal: 3, operator: nil)
        func customer(_ calls: [String], now: Date) -> EligibilityPolicy.Customer {
            EligibilityPolicy.Customer(
                status: .active, phone: "+13055550100", timeZone: Self.newYork, lastCalledAt: nil,
                numberFreeAt: cap.nextAllowed(after: now, calls: calls.map(local), in: Self.newYork))
        }
        // Three calls on Wednesday 10:00, 11:00, 12:00: at 13:00 the fourth waits until Thursday 10:00.
        let one = local("2026-12-02 13:00:00")
        let c = customer(["2026-12-02 10:00:00", "2026-12-02 11:00:00", "2026-12-02 12:00:00"], now: one)
        #expect(policy.reason(c, now: one) == .numberFrequency)
        #expect(
            policy.dialVerdict(c, attempt: 2, callsToday: 0, dailyCap: 100, campaignTimeZone: Self.newYork, now: one)
                == .deferred(rule: "number_frequency", until: local("2026-12-03 10:00:00")))
        // Calls another campaign made at 07:00–08:00: free at 07:00 Thursday, before this
        // campaign's window, which opens at 09:00.
        let early = customer(["2026-12-02 07:00:00", "2026-12-02 07:30:00", "2026-12-02 08:00:00"], now: one)
        #expect(
            policy.dialVerdict(early, attempt: 1, callsToday: 0, dailyCap: 100, campaignTimeZone: Self.newYork, now: one)
                == .deferred(rule: "number_frequency", until: local("2026-12-03 09:00:00")))
        // Two calls: under the cap, allowed.
        let two = customer(["2026-12-02 10:00:00", "2026-12-02 11:00:00"], now: one)
        #expect(policy.reason(two, now: one) == nil)
        #expect(policy.dialVerdict(two, attempt: 1, callsToday: 0, dailyCap: 100, campaignTimeZone: Self.newYork, now: one) == .allowed)
    }
}
