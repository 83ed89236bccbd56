import CampaignCore
import CampaignProtocol
import Foundation
import Testing

@testable import campaign_ctl

/// `campaign-ctl watch` without a coordinator: what the model makes of events and readings, and
/// what the screen and the line show. (The watch against real processes, under tmux, is in the
/// end-to-end tests.)
@Suite("campaign-ctl watch")
struct WatchTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// An event of job `job` at `t0 + seconds`.
    static func event(
        _ id: Int64, job: Int64, in campaign: String = "reminders", _ status: JobStatus, _ phase: JobPhase? = nil,
        outcome: String? = nil, reason: String? = nil, at seconds: Double = 0
    ) -> JobEvent {
        JobEvent(
            eventId: id, id: job, queueJobId: "q-\(job)", campaign: campaign, status: status, phase: phase,
            outcome: outcome, reason: reason, attemptsMade: 1, at: Timestamp.string(Self.t0.addingTimeInterval(seconds)))
    }

    /// One call of job `job`: leased, dialing, then `end`.
    static func call(_ firstId: Int64, job: Int64, _ campaign: String = "reminders", end: JobStatus, outcome: String?, reason: String? = nil, at: Double) -> [JobEvent] {
        [
            Self.event(firstId, job: job, in: campaign, .active, .claimed, at: at - 2),
            Self.event(firstId + 1, job: job, in: campaign, .active, .dialing, at: at - 1),
            Self.event(firstId + 2, job: job, in: campaign, end, outcome: outcome, reason: reason, at: at),
        ]
    }

    static func metrics(refusals: [(String, String, Int)] = [], waits: Int = 0, oldestDue: Double = 0, max: Int = 100) throws -> WatchMetrics {
        var text = """
            # HELP campaign_dial_refusals_total Refusals.
            # TYPE campaign_dial_refusals_total counter

            """
        for (c, rule, n) in refusals { text += "campaign_dial_refusals_total{campaign=\"\(c)\",rule=\"\(rule)\"} \(n)\n" }
        text += """
            # HELP campaign_provider_limit_waits_total Waits.
            # TYPE campaign_provider_limit_waits_total counter
            campaign_provider_limit_waits_total \(waits)
            # HELP campaign_jobs_due_oldest_seconds Oldest due.
            # TYPE campaign_jobs_due_oldest_seconds gauge
            campaign_jobs_due_oldest_seconds{campaign="reminders"} \(oldestDue)
            campaign_jobs_due_oldest_seconds{campaign="collections"} 0
            # HELP campaign_jobs_outcome_unknown Unknown.
            # TYPE campaign_jobs_outcome_unknown gauge
            campaign_jobs_outcome_unknown{campaign="reminders"} 2
            # HELP campaign_provider_max_concurrent_calls Limit.
            # TYPE campaign_provider_max_concurrent_calls gauge
            campaign_provider_max_concurrent_calls \(max)

            """
        return try WatchMetrics(exposition: text)
    }

    static func snapshot(
        campaigns: [CampaignHealth], agents: Int = 3, metrics: WatchMetrics, database: String = "up", at: Double = 0
    ) -> WatchModel.Snapshot {
        let total = campaigns.reduce(QueueCounts()) { $0 + $1.queue }
        let views = (0..<agents).map { i in
            AgentView(
                agentId: "agent-\(i + 1)", version: "1", capacity: 10, connectionId: Int64(i), connectedAt: "", pid: nil,
                uid: nil, gid: nil, unit: nil, role: .agent, leasesHeld: i, reports: 0)
        }
        return WatchModel.Snapshot(
            health: Health.Result(
                version: "1.2.3", uptimeSeconds: 5, database: database, leader: true, agents: agents, queue: total,
                completedToday: 0, campaigns: campaigns),
            agents: ListAgents.Result(coordinator: "c1", agents: views), metrics: metrics, at: Self.t0.addingTimeInterval(at))
    }

    static func campaign(_ name: String, queued: Int = 0, active: Int = 0, completed: Int = 0, failed: Int = 0, dialing: Int = 0, status: CampaignStatus = .active) -> CampaignHealth {
        CampaignHealth(
            name: name, status: status, queue: QueueCounts(QUEUED: queued, ACTIVE: active, COMPLETED: completed, FAILED: failed),
            dialing: dialing, callsToday: completed + failed)
    }

    // MARK: The model

    @Test func aCallEndsWhenADialingJobMovesOnWithItsOutcomeOrItsReason() {
        var m = WatchModel(startedAt: Self.t0)
        let now = Self.t0.addingTimeInterval(10)
        for e in Self.call(1, job: 1, end: .completed, outcome: "ANSWERED", at: 5)
            + Self.call(4, job: 2, end: .queued, outcome: "NO_ANSWER", at: 6)  // retried later
            + Self.call(7, job: 3, "collections", end: .failed, outcome: nil, reason: "outcome_unknown", at: 7)
        {
            m.apply(e, now: now)
        }
        // Leased and given back before dialing: no call.
        m.apply(Self.event(10, job: 4, .active, .claimed, at: 8), now: now)
        m.apply(Self.event(11, job: 4, .queued, reason: "pre_dial_refused", at: 9), now: now)
        // Seen first after its DIALING (the watch began mid-call): not counted.
        m.apply(Self.event(12, job: 5, .completed, outcome: "BUSY", at: 9), now: now)

        #expect(m.outcomeCounts("reminders").map(\.outcome) == ["ANSWERED", "NO_ANSWER"])
        #expect(m.outcomeCounts("collections").map { "\($0.outcome)=\($0.count)" } == ["outcome_unknown=1"])
        #expect(m.outcomeCounts(nil).reduce(0) { $0 + $1.count } == 3)
        #expect(m.callsPerMinute("reminders", now: now) == 2)
        #expect(m.callsPerMinute(nil, now: now) == 3)
        #expect(m.eventsSeen == 12)
        #expect(m.lastEventId == 12)
        #expect(m.dialing.isEmpty)
    }

    @Test func eventsRepeatedAfterAReconnectAreFoldedInOnce() {
        var m = WatchModel(startedAt: Self.t0)
        let events = Self.call(1, job: 1, end: .completed, outcome: "ANSWERED", at: 5)
        for e in events + events { m.apply(e, now: Self.t0.addingTimeInterval(6)) }
        #expect(m.eventsSeen == 3)
        #expect(m.outcomeCounts(nil).first?.count == 1)
    }

    @Test func callsPerMinuteCountsTheLastSixtySecondsOfEventTimeInAnyArrivalOrder() {
        var m = WatchModel(startedAt: Self.t0)
        var id: Int64 = 1
        // Ends at 0, 10, 20 … 110 s, the pair at 50/45 out of order (commit order is not `at` order).
        let ends: [Double] = [0, 10, 20, 30, 40, 50, 45, 60, 70, 80, 90, 100, 110]
        for (job, at) in ends.enumerated() {
            for e in Self.call(id, job: Int64(job), end: .completed, outcome: "ANSWERED", at: at) { m.apply(e, now: Self.t0.addingTimeInterval(at)) }
            id += 3
        }
        let now = Self.t0.addingTimeInterval(110)
        // After 50 s: 60 … 110 (six), the window's start excluded.
        #expect(m.callsPerMinute(nil, now: now) == 6)
        #expect(m.callsPerMinute(nil, now: Self.t0.addingTimeInterval(200)) == 0)
        #expect(m.callsPerMinute("collections", now: now) == 0)
        // Every call is an outcome, whatever the window.
        #expect(m.outcomeCounts(nil).first?.count == ends.count)
    }

    @Test func refusalsAndWaitsCountFromTheFirstReadingAndStartAgainWhenTheCoordinatorDid() throws {
        var m = WatchModel(startedAt: Self.t0)
        let campaigns = [Self.campaign("reminders", queued: 5)]
        m.took(Self.snapshot(campaigns: campaigns, metrics: try Self.metrics(refusals: [("reminders", "window", 7)], waits: 3)))
        #expect(m.refusals("reminders").isEmpty)
        #expect(m.providerLimitWaits == 0)
        m.took(
            Self.snapshot(
                campaigns: campaigns,
                metrics: try Self.metrics(refusals: [("reminders", "window", 9), ("reminders", "daily_cap", 4)], waits: 5)))
        #expect(m.refusals("reminders").map { "\($0.rule)=\($0.count)" } == ["daily_cap=4", "window=2"])
        #expect(m.providerLimitWaits == 2)
        // A restarted coordinator's counters start at zero: shown from zero.
        m.took(Self.snapshot(campaigns: campaigns, metrics: try Self.metrics(refusals: [("reminders", "window", 1)], waits: 0)))
        #expect(m.refusals("reminders").map { "\($0.rule)=\($0.count)" } == ["window=1"])
        #expect(m.providerLimitWaits == 0)
    }

    @Test func drainedOnlyFromAReadingNewerThanTheLastEvent() throws {
        var m = WatchModel(startedAt: Self.t0)
        #expect(!m.drained)
        m.took(Self.snapshot(campaigns: [Self.campaign("reminders", queued: 1)], metrics: try Self.metrics()))
        #expect(!m.drained)
        m.took(Self.snapshot(campaigns: [Self.campaign("reminders", completed: 1)], metrics: try Self.metrics()))
        #expect(m.drained)
        m.apply(Self.event(1, job: 9, .queued), now: Self.t0)
        #expect(!m.drained)
    }

    @Test func readingsAreOnceASecondWhenStaleEveryFiveWhenNotAndNeverOverATwentiethOfTheTime() {
        let ms = Duration.milliseconds
        #expect(WatchModel.readDue(since: .seconds(1), lastCost: ms(5), stale: true))
        #expect(!WatchModel.readDue(since: ms(999), lastCost: ms(5), stale: true))
        #expect(!WatchModel.readDue(since: .seconds(4), lastCost: ms(5), stale: false))
        #expect(WatchModel.readDue(since: .seconds(5), lastCost: ms(5), stale: false))
        // A reading of 0.4 s (a million jobs): every 8 s, stale or not.
        #expect(!WatchModel.readDue(since: ms(7999), lastCost: ms(400), stale: true))
        #expect(WatchModel.readDue(since: .seconds(8), lastCost: ms(400), stale: true))
        #expect(WatchModel.readDue(since: .seconds(8), lastCost: ms(400), stale: false))
        // The first reading at once.
        #expect(WatchModel.readDue(since: .seconds(3600), lastCost: .zero, stale: false))
    }

    @Test func theMetricsOfTheWatchAreReadFromThePrometheusText() throws {
        let metrics = try Self.metrics(refusals: [("reminders", "window", 7)], waits: 3, oldestDue: 42.5, max: 12)
        #expect(metrics.refusals == ["reminders": ["window": 7]])
        #expect(metrics.providerLimitWaits == 3)
        #expect(metrics.oldestDue == ["reminders": 42.5, "collections": 0])
        #expect(metrics.outcomeUnknown == ["reminders": 2])
        #expect(metrics.providerMaxConcurrentCalls == 12)
        #expect(throws: PrometheusText.Violation.self) { try WatchMetrics(exposition: "campaign_jobs{campaign=\"x} 1\n") }
    }

    // MARK: The screen

    /// A model with two campaigns, three agents and a few calls.
    static func busyModel(campaigns: Int = 2, agents: Int = 3) throws -> WatchModel {
        var m = WatchModel(startedAt: Self.t0)
        var list = [Self.campaign("reminders", queued: 120, active: 12, completed: 340, failed: 3, dialing: 11),
                    Self.campaign("collections", queued: 80, active: 8, completed: 200, dialing: 8, status: .paused)]
        for i in 2..<max(campaigns, 2) { list.append(Self.campaign("campaign-\(i)", queued: i)) }
        list = Array(list.prefix(campaigns))
        list.append(Self.campaign("default"))  // no jobs: not shown
        m.took(Self.snapshot(campaigns: list, agents: agents, metrics: try Self.metrics(refusals: [("reminders", "window", 1)])))
        m.took(Self.snapshot(campaigns: list, agents: agents, metrics: try Self.metrics(refusals: [("reminders", "window", 4)], oldestDue: 75)))
        m.link = .connected
        var id: Int64 = 1
        for job in 1...5 {
            for e in Self.call(id, job: Int64(job), job % 2 == 0 ? "collections" : "reminders", end: .completed, outcome: job == 5 ? "BUSY" : "ANSWERED", at: 20) {
                m.apply(e, now: Self.t0.addingTimeInterval(20))
            }
            id += 3
        }
        return m
    }

    @Test func theScreenFillsEightyByTwentyFourWithEverySection() throws {
        let m = try Self.busyModel()
        let lines = WatchScreen.screen(m, now: Self.t0.addingTimeInterval(30), width: 80, height: 24)
        #expect(lines.count == 24)
        #expect(lines.allSatisfy { $0.width == 80 })
        let text = lines.map(\.text)
        let screen = text.joined(separator: "\n")
        for needle in ["CAMPAIGN", "reminders", "collections", "OUTCOMES", "REFUSALS", "PROVIDER", "AGENTS", "agent-3", "q quits", "leader", "database up"] {
            #expect(screen.contains(needle), "no \(needle) on the screen")
        }
        #expect(!screen.contains("default"))
        let row = try #require(text.first { $0.hasPrefix("reminders") })
        #expect(row.split(separator: " ") == ["reminders", "ACTIVE", "120", "12", "11", "340", "3", "0", "3", "1m"])
        #expect(text.contains { $0.contains("window 3") })
        #expect(text.contains { $0.contains("ANSWERED 2") && $0.contains("BUSY 1") })
        #expect(text.contains { $0.contains("19 of 100 calls at once") })
        #expect(text.contains { $0.hasPrefix("all ") })
    }

    @Test func manyCampaignsAndAgentsStillFitAndSayWhatIsNotShown() throws {
        let m = try Self.busyModel(campaigns: 30, agents: 40)
        for (w, h) in [(80, 24), (100, 30), (60, 12)] {
            let lines = WatchScreen.screen(m, now: Self.t0, width: w, height: h)
            #expect(lines.count == h)
            #expect(lines.allSatisfy { $0.width == w })
            #expect(lines.last?.text.hasPrefix("q quits") == true)
        }
        let text = WatchScreen.screen(m, now: Self.t0, width: 80, height: 24).map(\.text).joined(separator: "\n")
        #expect(text.contains("more campaign(s)"))
        #expect(text.contains("reminders"))
    }

    @Test func aLostCoordinatorIsSaidOnTheTitleBarAndTheLastReadingStays() throws {
        var m = try Self.busyModel()
        m.link = .lost("cannot connect to /run/campaign/coordinator.sock")
        let lines = WatchScreen.screen(m, now: Self.t0, width: 80, height: 24).map(\.text)
        #expect(lines[0].contains("coordinator unreachable"))
        #expect(lines.contains { $0.hasPrefix("reminders") })
        #expect(WatchScreen.line(m, now: Self.t0).contains("coordinator unreachable"))
    }

    @Test func coloursAreEscapesAroundTheTextAndNoneWithoutColour() throws {
        let m = try Self.busyModel()
        let lines = WatchScreen.screen(m, now: Self.t0, width: 80, height: 24)
        let plain = lines.map { $0.rendered(color: false) }
        let coloured = lines.map { $0.rendered(color: true) }
        #expect(!plain.joined().contains("\u{1B}"))
        #expect(coloured.joined().contains("\u{1B}[32mACTIVE"))  // an active campaign
        #expect(coloured.joined().contains("\u{1B}[33mPAUSED"))
        // Without the escapes, the same text.
        let stripped = coloured.map { $0.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression) }
        #expect(stripped == plain)
    }

    @Test func theLineModeSaysTheQueueTheRateAndTheCampaignsOnOneLine() throws {
        let m = try Self.busyModel()
        let line = WatchScreen.line(m, now: Self.t0.addingTimeInterval(30))
        #expect(line.contains("queued 200 active 20 dialing 19 completed 540 failed 3 skipped 0"))
        #expect(line.contains("5 calls/min"))
        #expect(line.contains("reminders 120q/11d/340c"))
        #expect(!line.contains("\n"))
        let one = WatchScreen.line(m, now: Self.t0.addingTimeInterval(30), only: "collections")
        #expect(one.contains("queued 80 active 8 dialing 8 completed 200"))
        #expect(one.contains("2 calls/min"))
    }

    @Test func theJSONLineSaysTheSameAsTheTextOne() throws {
        let m = try Self.busyModel()
        let text = WatchScreen.json(m, now: Self.t0.addingTimeInterval(30))
        #expect(!text.contains("\n"))
        let o = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(o["link"] as? String == "connected")
        #expect(o["leader"] as? Bool == true)
        #expect((o["queue"] as? [String: Int])?["QUEUED"] == 200)
        #expect(o["dialing"] as? Int == 19)
        #expect(o["callsPerMinute"] as? Int == 5)
        let campaigns = try #require(o["campaigns"] as? [[String: Any]])
        #expect(campaigns.map { $0["name"] as? String } == ["reminders", "collections"])
        #expect((campaigns[0]["outcomes"] as? [String: Int]) == ["ANSWERED": 2, "BUSY": 1])
        #expect((campaigns[0]["refusals"] as? [String: Int]) == ["window": 3])
        #expect(campaigns[0]["oldestDueSeconds"] as? Double == 75)
        let one = try #require(
            try JSONSerialization.jsonObject(with: Data(WatchScreen.json(m, now: Self.t0, only: "collections").utf8)) as? [String: Any])
        #expect((one["queue"] as? [String: Int])?["QUEUED"] == 80)
        #expect((one["campaigns"] as? [[String: Any]])?.count == 1)
    }

    @Test func aLineIsCutWithAnEllipsisAndPaddedToItsWidth() {
        var l = StyledLine("abc", .bold)
        l.add("defgh", .red)
        #expect(l.truncated(to: 5).text == "abcd…")
        #expect(l.truncated(to: 8) == l)
        #expect(l.fitted(to: 10).text == "abcdefgh  ")
        #expect(l.fitted(to: 0).text == "")
        #expect(WatchScreen.cell("reminders-and-more", width: 12, left: true) == "reminders-a…")
        #expect(WatchScreen.cell("42", width: 5, left: false) == "   42")
        #expect(["0s", "59s", "1m", "59m", "1h", "1d"] == [0, 59, 60, 3599, 3600, 86400].map { WatchScreen.duration(Double($0)) })
    }
}
