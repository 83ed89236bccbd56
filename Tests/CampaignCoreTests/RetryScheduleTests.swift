import CampaignCore
import Foundation
import Testing

/// Retries by call outcome: the delays' text, which delay comes after which attempt, and the
/// window delays on the customer's clock (DST nights included).
@Suite("Retry schedule by outcome")
struct RetryScheduleTests {
    static func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }
    static let paris = TimeZone(identifier: "Europe/Paris")!
    static let weekdays: Set<Int> = [1, 2, 3, 4, 5]
    /// 09:00–12:00 and 14:00–19:00 on weekdays.
    static let split = CallingWindows(windows: [
        .init(isoWeekdays: weekdays, startSecond: 9 * 3600, endSecond: 12 * 3600),
        .init(isoWeekdays: weekdays, startSecond: 14 * 3600, endSecond: 19 * 3600),
    ])

    @Test("delays read as written, and nothing else", arguments: [
        ("90s", RetrySchedule.Delay.after(seconds: 90)), ("30m", .after(seconds: 1800)), ("4h", .after(seconds: 14_400)),
        ("7d", .after(seconds: 604_800)), ("nextWindow", .nextWindow), ("nextDay", .nextDay),
    ])
    func parses(_ text: String, _ delay: RetrySchedule.Delay) {
        #expect(RetrySchedule.Delay(text) == delay)
        #expect(RetrySchedule.Delay(delay.description) == delay)
    }

    @Test("bad delays are refused", arguments: ["", "m", "0m", "-5m", "5", "5w", "8d", "1.5h", "nextwindow", " 5m", "99999999999999999999s"])
    func refuses(_ text: String) {
        #expect(RetrySchedule.Delay(text) == nil)
    }

    @Test("after attempt n the outcome's n-th delay; past its last, no more retries; outcomes not named back off")
    func attemptIndexing() {
        let s = RetrySchedule(delays: [.noAnswer: [.after(seconds: 1800), .after(seconds: 14_400)], .busy: [.after(seconds: 600)]])
        let now = Self.utc("2026-12-02T10:00:00Z")
        let all = CallingWindows(WorkingHours(startSecond: 0, endSecond: 86_400, isoWeekdays: Set(1...7)))
        func plan(_ o: CallOutcome?, _ n: Int) -> RetrySchedule.Plan {
            s.plan(outcome: o, afterAttempt: n, now: now, windows: all, timeZone: Self.paris)
        }
        #expect(plan(.noAnswer, 1) == .at(now.addingTimeInterval(1800)))
        #expect(plan(.noAnswer, 2) == .at(now.addingTimeInterval(14_400)))
        #expect(plan(.noAnswer, 3) == .noMoreRetries)
        #expect(plan(.busy, 1) == .at(now.addingTimeInterval(600)))
        #expect(plan(.busy, 2) == .noMoreRetries)
        #expect(plan(.failed, 1) == .backoff)
        #expect(plan(nil, 1) == .backoff)
        #expect(!s.needsWindows)
        #expect(RetrySchedule(delays: [.voicemail: [.nextDay]]).needsWindows)
    }

    @Test("nextWindow: from inside the morning window, the afternoon's opening; from the afternoon, the next weekday's morning")
    func nextWindow() {
        let tue1030 = Self.utc("2026-12-01T09:30:00Z")  // 10:30 in Paris (UTC+1)
        #expect(Self.split.nextWindowOpening(after: tue1030, in: Self.paris) == Self.utc("2026-12-01T13:00:00Z"))
        let tue1500 = Self.utc("2026-12-01T14:00:00Z")
        #expect(Self.split.nextWindowOpening(after: tue1500, in: Self.paris) == Self.utc("2026-12-02T08:00:00Z"))
        // Outside the windows (12:30): the next opening, 14:00.
        let tue1230 = Self.utc("2026-12-01T11:30:00Z")
        #expect(Self.split.nextWindowOpening(after: tue1230, in: Self.paris) == Self.utc("2026-12-01T13:00:00Z"))
        // Friday afternoon: Monday morning.
        let fri1600 = Self.utc("2026-12-04T15:00:00Z")
        #expect(Self.split.nextWindowOpening(after: fri1600, in: Self.paris) == Self.utc("2026-12-07T08:00:00Z"))
        // Back-to-back windows are one stretch: 09–12 then 12–13 → the next day's 09:00.
        let joined = CallingWindows(windows: [
            .init(isoWeekdays: Set(1...7), startSecond: 9 * 3600, endSecond: 12 * 3600),
            .init(isoWeekdays: Set(1...7), startSecond: 12 * 3600, endSecond: 13 * 3600),
        ])
        #expect(joined.nextWindowOpening(after: tue1030, in: Self.paris) == Self.utc("2026-12-02T08:00:00Z"))
        // Open around the clock: there is no next window.
        let always = CallingWindows(WorkingHours(startSecond: 0, endSecond: 86_400, isoWeekdays: Set(1...7)))
        #expect(always.nextWindowOpening(after: tue1030, in: Self.paris) == nil)
    }

    @Test("nextDay: the first opening on a later local date, also where midnight is skipped (Santiago, September)")
    func nextDay() {
        let s = RetrySchedule(delays: [.voicemail: [.nextDay]])
        let tue1030 = Self.utc("2026-12-01T09:30:00Z")
        #expect(s.plan(outcome: .voicemail, afterAttempt: 1, now: tue1030, windows: Self.split, timeZone: Self.paris)
            == .at(Self.utc("2026-12-02T08:00:00Z")))
        // Late in the evening, after the windows: still tomorrow's first, not tonight's.
        let tue2330 = Self.utc("2026-12-01T22:30:00Z")
        #expect(s.plan(outcome: .voicemail, afterAttempt: 1, now: tue2330, windows: Self.split, timeZone: Self.paris)
            == .at(Self.utc("2026-12-02T08:00:00Z")))
        // Chile springs forward at midnight (2026-09-06 00:00 → 01:00): the day after Saturday
        // opens at Sunday's window.
        let santiago = TimeZone(identifier: "America/Santiago")!
        let daily = CallingWindows(WorkingHours(startSecond: 0, endSecond: 6 * 3600, isoWeekdays: Set(1...7)))
        let sat = Self.utc("2026-09-05T12:00:00Z")  // Saturday 08:00 in Santiago (UTC−4)
        guard case .at(let due) = s.plan(outcome: .voicemail, afterAttempt: 1, now: sat, windows: daily, timeZone: santiago)
        else {
            Issue.record("no plan")
            return
        }
        #expect(LocalTime(due, santiago).date == "2026-09-06" && daily.contains(due, in: santiago), "\(due)")
        #expect(due > sat)
    }
}
