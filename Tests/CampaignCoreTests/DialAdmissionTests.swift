import CampaignCore
import Testing

/// The provider limits' admission of call starts, one call at a time as a batch asks.
@Suite("Dial admission")
struct DialAdmissionTests {
    @Test func concurrencyAdmitsUpToTheLimitThenWaitsASecond() {
        var a = DialAdmission(dialing: 2, inWindow: 0, callsToday: 40, maxConcurrentCalls: 3, callsPerSecond: 100)
        #expect(a.slack == 1)
        #expect(a.admit() == nil)
        #expect((a.dialing, a.inWindow, a.callsToday) == (3, 1, 41))
        #expect(a.admit() == 1000, "at the concurrency limit: wait for a call to end")
        #expect((a.dialing, a.callsToday) == (3, 41), "a refused start counts for nothing")
    }

    @Test func theRateWindowAdmitsItsCallsThenWaitsOneCallsShare() {
        var a = DialAdmission(dialing: 0, inWindow: 0, callsToday: 0, maxConcurrentCalls: 1000, callsPerSecond: 5)
        #expect(a.window.seconds == 1 && a.window.calls == 5)
        let answers = (0..<6).map { _ in a.admit() }
        #expect(answers == [nil, nil, nil, nil, nil, 200])
    }

    @Test func fewerThanOneCallASecondIsOneCallPerWindow() {
        #expect(DialAdmission.rateWindow(callsPerSecond: 0.5) == .init(seconds: 2, calls: 1))
        #expect(DialAdmission.rateWindow(callsPerSecond: 0.25) == .init(seconds: 4, calls: 1))
        #expect(DialAdmission.rateWindow(callsPerSecond: 2.5) == .init(seconds: 1, calls: 2))
        var a = DialAdmission(dialing: 0, inWindow: 1, callsToday: 0, maxConcurrentCalls: 10, callsPerSecond: 0.5)
        #expect(a.admit() == 2000)
    }

    @Test func aFastRateWaitsAtLeastFiftyMilliseconds() {
        var a = DialAdmission(dialing: 0, inWindow: 1000, callsToday: 0, maxConcurrentCalls: 10_000, callsPerSecond: 1000)
        #expect(a.slack == 0)
        #expect(a.admit() == 50)
    }

    @Test func countersAboveTheLimitsGiveNoSlack() {
        let a = DialAdmission(dialing: 9, inWindow: 0, callsToday: 0, maxConcurrentCalls: 5, callsPerSecond: 10)
        #expect(a.slack == 0 && a.waitMs == 1000)
    }
}
