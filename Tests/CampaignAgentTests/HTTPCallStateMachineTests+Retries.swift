import CampaignCore
import CampaignProtocol
import NIOConcurrencyHelpers
import Testing

@testable import CampaignAgentKit

/// Giving up before an acceptance (the most `POST`s, the deadline, cancellation) and the pauses
/// between `POST`s.
extension HTTPCallStateMachineTests {
    // MARK: Giving up

    @Test("maximumPosts POSTs without an acceptance: given up with the last problem, the last one still noted")
    func maximumPostsNotReached() {
        var m = Self.machine(maximumPosts: 3)
        _ = m.start(now: Self.at(0))
        #expect(
            m.postCompleted(.notSent("refused"), now: Self.at(0))
                == Action(.sleepThenPost(until: Self.at(400)), notes: [.postNotSent("refused")]))
        #expect(
            m.postCompleted(Self.answer(429), now: Self.at(400))
                == Action(.sleepThenPost(until: Self.at(1200)), notes: [.postRefusedForNow(status: 429)]))
        let expected = Self.notPlaced(
            "the provider could not be reached (HTTP 503)", ["posts": 3, "lastProblem": "HTTP 503"])
        #expect(
            m.postCompleted(Self.answer(503), now: Self.at(1200))
                == Action(.finish(expected), notes: [.postRefusedForNow(status: 503)]))
        #expect(m.state == .done)
    }

    @Test("maximumPosts reached after an unanswered POST: outcome unknown")
    func maximumPostsMaybeReached() {
        var m = Self.machine(maximumPosts: 2)
        _ = m.start(now: Self.at(0))
        _ = m.postCompleted(.noAnswer("reset by peer"), now: Self.at(0))
        let expected = Self.unknown(
            "the provider did not confirm the call (refused)", ["posts": 2, "lastProblem": "refused"])
        #expect(
            m.postCompleted(.notSent("refused"), now: Self.at(400))
                == Action(.finish(expected), notes: [.postNotSent("refused")]))
    }

    @Test("the deadline reached when a POST comes back: given up, no retry")
    func deadlineWhileCreating() {
        var m = Self.machine(deadline: 1000)
        _ = m.start(now: Self.at(0))
        let expected = Self.notPlaced(
            "the provider could not be reached (the call's hard limit was reached)",
            ["posts": 1, "lastProblem": "the call's hard limit was reached"])
        #expect(
            m.postCompleted(.notSent("the call's hard limit was reached"), now: Self.at(1000))
                == Action(.finish(expected), notes: [.postNotSent("the call's hard limit was reached")]))

        var reached = Self.machine(deadline: 1000)
        _ = reached.start(now: Self.at(0))
        let unknown = Self.unknown(
            "the provider did not confirm the call (HTTP 500)", ["posts": 1, "lastProblem": "HTTP 500"])
        #expect(
            reached.postCompleted(Self.answer(500), now: Self.at(1500))
                == Action(.finish(unknown), notes: [.postRefusedForNow(status: 500)]))
    }

    @Test("a retry pause never ends past the deadline")
    func pauseCutAtDeadline() {
        var m = Self.machine(deadline: 1000)
        _ = m.start(now: Self.at(0))
        #expect(
            m.postCompleted(.notSent("refused"), now: Self.at(599))
                == Action(.sleepThenPost(until: Self.at(999)), notes: [.postNotSent("refused")]))
        #expect(
            m.postCompleted(.notSent("refused"), now: Self.at(999))
                == Action(.sleepThenPost(until: Self.at(1000)), notes: [.postNotSent("refused")]))
    }

    @Test("cancelled: the call ends with what is known, as at the deadline")
    func cancelledWhileCreating() {
        var fresh = Self.machine()
        _ = fresh.start(now: Self.at(0))
        #expect(
            fresh.taskCancelled()
                == Action(
                    .finish(Self.notPlaced("the provider could not be reached ()", ["posts": 0, "lastProblem": ""]))))
        #expect(fresh.state == .done)

        var reached = Self.machine()
        _ = reached.start(now: Self.at(0))
        _ = reached.postCompleted(.noAnswer("read timeout"), now: Self.at(0))
        let expected = Self.unknown(
            "the provider did not confirm the call (read timeout)", ["posts": 1, "lastProblem": "read timeout"])
        #expect(reached.taskCancelled() == Action(.finish(expected)))
    }

    // MARK: Backoff

    @Test("retry pauses: half the backoff plus the jitter on the other half; the backoff doubles up to 5 s")
    func backoff() {
        let asked = NIOLockedValueBox<[Duration]>([])
        var full = Self.machine(
            maximumPosts: 10, retryBackoff: .seconds(1),
            jitter: { upTo in
                asked.withLockedValue { $0.append(upTo) }
                return upTo
            })
        _ = full.start(now: Self.at(0))
        var pauses: [Duration] = []
        for _ in 0..<6 {
            guard case .sleepThenPost(let until) = full.postCompleted(Self.answer(503), now: Self.at(0)).next else {
                Issue.record("no retry")
                return
            }
            pauses.append(until - Self.at(0))
        }
        #expect(pauses == [.seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5), .seconds(5)])
        #expect(
            asked.withLockedValue { $0 } == [
                .milliseconds(500), .seconds(1), .seconds(2), .milliseconds(2500), .milliseconds(2500),
                .milliseconds(2500),
            ])

        var none = Self.machine(maximumPosts: 10, retryBackoff: .seconds(1), jitter: { _ in .zero })
        _ = none.start(now: Self.at(0))
        pauses = []
        for _ in 0..<5 {
            guard case .sleepThenPost(let until) = none.postCompleted(.notSent("refused"), now: Self.at(0)).next else {
                Issue.record("no retry")
                return
            }
            pauses.append(until - Self.at(0))
        }
        #expect(pauses == [.milliseconds(500), .seconds(1), .seconds(2), .milliseconds(2500), .milliseconds(2500)])
    }

    @Test("the default jitter: whole milliseconds from zero up to the amount")
    func randomJitter() {
        for _ in 0..<200 {
            let j = Machine.randomJitter(upTo: .milliseconds(10))
            #expect(j >= .zero && j <= .milliseconds(10))
            #expect(j.components.attoseconds % 1_000_000_000_000_000 == 0)
        }
        #expect(Machine.randomJitter(upTo: .zero) == .zero)
        #expect(Machine.randomJitter(upTo: .microseconds(900)) == .zero)
    }
}
