import CampaignCore
import Foundation
import Testing

// The lifecycle machine of DESIGN §4, tested as STYLE §2.2 asks: every (state, event) pair in a
// table with its expected decision written out, then random event sequences against invariants.

private typealias Machine = JobStateMachine
private typealias Decision = JobStateMachine.Decision
private typealias Snapshot = JobStateMachine.Snapshot

private let current = "t1"
private let stale = "t0"
private let rule = "customer_opted_out"
private let later = "outside_working_hours"
private let deferUntil = Date(timeIntervalSince1970: 1_800_000_000)

/// The job states of the table. A state is what the machine sees: status, phase, token, whether
/// the outcome is unknown, and `lastReport` (the agent request that brought the job there under
/// its current token), which decides whether a request that can no longer act is a resend.
///
/// Every leased state carries `current` as its token (the store keeps `lease_token` after the
/// lease ends). The QUEUED states with no attempts left cannot arise through the machine (it
/// re-queues only with attempts left, and a reset extends the budget); they are kept to pin that
/// the decisions there do not look at the budget.
enum StateKind: String, CaseIterable, Sendable {
    case queuedNew = "QUEUED(never leased)"
    case queuedAfterFail = "QUEUED(after retryable fail)"
    case queuedAfterLostLease = "QUEUED(after lost lease)"
    case claimed = "ACTIVE/CLAIMED"
    case dialing = "ACTIVE/DIALING"
    case completed = "COMPLETED"
    case failedReported = "FAILED(reported)"
    case failedLeaseExpired = "FAILED(lease_expired)"
    case failedOutcomeUnknown = "FAILED(outcome_unknown)"
    case failedUnknownReported = "FAILED(outcome_unknown, reported by the agent)"
    case skippedByAgent = "SKIPPED(agent skip)"
    case skippedRefused = "SKIPPED(dialing refused)"
    case skippedCancelled = "SKIPPED(cancelled)"
    case queuedAfterDeferral = "QUEUED(dialing deferred)"

    /// The job in this state, with one attempt made out of three (`attemptsLeft`) or with all
    /// three made. A never-leased job has made none, out of three or (no attempts left) of none.
    func snapshot(attemptsLeft: Bool) -> JobStateMachine.Snapshot {
        let n = attemptsLeft ? 1 : 3
        func leased(
            _ status: JobStatus, _ phase: JobPhase? = nil, _ last: JobStateMachine.ReportKind?,
            unknown: Bool = false
        ) -> JobStateMachine.Snapshot {
            .init(
                status: status, phase: phase, leaseToken: current, attemptsMade: n, maxAttempts: 3,
                outcomeUnknown: unknown, lastReport: last)
        }
        switch self {
        case .queuedNew:
            return .init(status: .queued, leaseToken: nil, attemptsMade: 0, maxAttempts: attemptsLeft ? 3 : 0)
        case .queuedAfterFail: return leased(.queued, nil, .fail)
        case .queuedAfterLostLease: return leased(.queued, nil, nil)
        case .claimed: return leased(.active, .claimed, nil)
        case .dialing: return leased(.active, .dialing, .dialing)
        case .completed: return leased(.completed, nil, .complete)
        case .failedReported: return leased(.failed, nil, .fail)
        case .failedLeaseExpired: return leased(.failed, nil, nil)
        case .failedOutcomeUnknown: return leased(.failed, nil, nil, unknown: true)
        case .failedUnknownReported: return leased(.failed, nil, .fail, unknown: true)
        case .skippedByAgent: return leased(.skipped, nil, .skip)
        case .skippedRefused: return leased(.skipped, nil, .dialing)
        case .skippedCancelled: return leased(.skipped, nil, nil)
        case .queuedAfterDeferral: return leased(.queued, nil, .dialing)
        }
    }
}

/// Every event, with the token variants that matter.
enum EventKey: String, CaseIterable, Sendable {
    case lease
    case dialAllowed, dialRefused, dialAllowedStale, dialRefusedStale, dialDeferred, dialDeferredStale
    case complete, completeStale
    case failRetryable, failFinal, failRetryableStale, failFinalStale
    case failUnknown, failUnknownStale
    case skip, skipStale
    case leaseExpired, connectionLost, cancel, retry, campaignEnded, optedOut
    case notPlaced, notPlacedStale

    var event: JobStateMachine.Event {
        switch self {
        case .lease: return .leaseRequested
        case .dialAllowed: return .dialingRequested(token: current, verdict: .allowed)
        case .dialRefused: return .dialingRequested(token: current, verdict: .refused(rule: rule))
        case .dialAllowedStale: return .dialingRequested(token: stale, verdict: .allowed)
        case .dialRefusedStale: return .dialingRequested(token: stale, verdict: .refused(rule: rule))
        case .dialDeferred: return .dialingRequested(token: current, verdict: .deferred(rule: later, until: deferUntil))
        case .dialDeferredStale: return .dialingRequested(token: stale, verdict: .deferred(rule: later, until: deferUntil))
        case .complete: return .completeReported(token: current)
        case .completeStale: return .completeReported(token: stale)
        case .failRetryable: return .failReported(token: current, retryable: true)
        case .failFinal: return .failReported(token: current, retryable: false)
        case .failRetryableStale: return .failReported(token: stale, retryable: true)
        case .failFinalStale: return .failReported(token: stale, retryable: false)
        case .failUnknown: return .failReported(token: current, retryable: false, outcomeUnknown: true)
        case .failUnknownStale: return .failReported(token: stale, retryable: false, outcomeUnknown: true)
        case .skip: return .skipReported(token: current)
        case .skipStale: return .skipReported(token: stale)
        case .leaseExpired: return .leaseExpired
        case .connectionLost: return .connectionLost
        case .cancel: return .cancelRequested
        case .retry: return .retryRequested
        case .campaignEnded: return .campaignEnded
        case .optedOut: return .numberOptedOut
        case .notPlaced: return .notPlacedConfirmed(token: current)
        case .notPlacedStale: return .notPlacedConfirmed(token: stale)
        }
    }
}

/// The name of an event's case. Exhaustive on purpose: a new event fails to compile here until
/// the table covers it.
func caseName(_ event: JobStateMachine.Event) -> String {
    switch event {
    case .leaseRequested: return "leaseRequested"
    case .dialingRequested: return "dialingRequested"
    case .completeReported: return "completeReported"
    case .failReported: return "failReported"
    case .skipReported: return "skipReported"
    case .leaseExpired: return "leaseExpired"
    case .connectionLost: return "connectionLost"
    case .cancelRequested: return "cancelRequested"
    case .retryRequested: return "retryRequested"
    case .campaignEnded: return "campaignEnded"
    case .numberOptedOut: return "numberOptedOut"
    case .notPlacedConfirmed: return "notPlacedConfirmed"
    }
}

/// The agent request an event is, if it is one (what `handle` records as `lastReport`).
/// Exhaustive on purpose.
func reportKind(_ event: JobStateMachine.Event) -> JobStateMachine.ReportKind? {
    switch event {
    case .dialingRequested: return .dialing
    case .completeReported: return .complete
    case .failReported, .notPlacedConfirmed: return .fail
    case .skipReported: return .skip
    case .leaseRequested, .leaseExpired, .connectionLost, .cancelRequested, .retryRequested, .campaignEnded, .numberOptedOut:
        return nil
    }
}

/// Every agent request, each variant, carrying `token`.
func allReports(token: String) -> [JobStateMachine.Event] {
    [
        .dialingRequested(token: token, verdict: .allowed),
        .dialingRequested(token: token, verdict: .refused(rule: rule)),
        .dialingRequested(token: token, verdict: .deferred(rule: later, until: deferUntil)),
        .completeReported(token: token),
        .failReported(token: token, retryable: true),
        .failReported(token: token, retryable: false),
        .failReported(token: token, retryable: false, outcomeUnknown: true),
        .skipReported(token: token),
        .notPlacedConfirmed(token: token),
    ]
}

struct Row: Sendable, CustomTestStringConvertible {
    var state: StateKind
    var event: EventKey
    /// The decision when the job has attempts left (1 of 3 made).
    var withAttemptsLeft: JobStateMachine.Decision
    /// The decision when all attempts are made (3 of 3).
    var withNoAttemptsLeft: JobStateMachine.Decision
    var testDescription: String { "\(self.state.rawValue) × \(self.event.rawValue)" }
}

private let leaseLost = Decision.reject(.leaseLost)
private let invalid = Decision.reject(.invalidState)
private let replay = Decision.replay
private func to(_ t: JobStateMachine.Transition) -> Decision { .transition(t) }

/// A row whose decision does not depend on the attempts left, or (`none:`) one that does.
private func row(_ s: StateKind, _ e: EventKey, _ d: Decision, none: Decision? = nil) -> Row {
    Row(state: s, event: e, withAttemptsLeft: d, withNoAttemptsLeft: none ?? d)
}

/// The whole table. Expectations come from DESIGN §4 and the doc comments of JobStateMachine.
///
/// A request with the current token that finds the job where it cannot act is answered:
/// `replay` when the job's `lastReport` is that kind of request (a resend); `leaseLost` when the
/// lease ended without a report (QUEUED or FAILED-not-unknown with no `lastReport`);
/// `invalid` otherwise (another report decided the job, an admin cancelled it, or the request
/// is out of order). A stale token is always `leaseLost`.
let lifecycleTable: [Row] = [
    // QUEUED, never leased: there is no current token, so every report is on a lease it never had.
    row(.queuedNew, .lease, to(.claim)),
    row(.queuedNew, .dialAllowed, leaseLost),
    row(.queuedNew, .dialRefused, leaseLost),
    row(.queuedNew, .dialAllowedStale, leaseLost),
    row(.queuedNew, .dialRefusedStale, leaseLost),
    row(.queuedNew, .dialDeferred, leaseLost),
    row(.queuedNew, .dialDeferredStale, leaseLost),
    row(.queuedNew, .complete, leaseLost),
    row(.queuedNew, .completeStale, leaseLost),
    row(.queuedNew, .failRetryable, leaseLost),
    row(.queuedNew, .failFinal, leaseLost),
    row(.queuedNew, .failRetryableStale, leaseLost),
    row(.queuedNew, .failFinalStale, leaseLost),
    row(.queuedNew, .failUnknown, leaseLost),
    row(.queuedNew, .failUnknownStale, leaseLost),
    row(.queuedNew, .skip, leaseLost),
    row(.queuedNew, .skipStale, leaseLost),
    row(.queuedNew, .leaseExpired, invalid),
    row(.queuedNew, .connectionLost, invalid),
    row(.queuedNew, .cancel, to(.skip(reason: "cancelled"))),
    row(.queuedNew, .retry, invalid),
    row(.queuedNew, .campaignEnded, to(.skip(reason: "campaign_ended"))),
    row(.queuedNew, .optedOut, to(.skip(reason: "opted_out"))),

    // QUEUED after a retryable failure report (lastReport fail): only that report is a resend.
    row(.queuedAfterFail, .lease, to(.claim)),
    row(.queuedAfterFail, .dialAllowed, invalid),  // the lease ended by the agent's own report: out of order
    row(.queuedAfterFail, .dialRefused, invalid),
    row(.queuedAfterFail, .dialAllowedStale, leaseLost),
    row(.queuedAfterFail, .dialRefusedStale, leaseLost),
    row(.queuedAfterFail, .dialDeferred, invalid),
    row(.queuedAfterFail, .dialDeferredStale, leaseLost),
    row(.queuedAfterFail, .complete, invalid),  // a different report decided the job
    row(.queuedAfterFail, .completeStale, leaseLost),
    row(.queuedAfterFail, .failRetryable, replay),  // resend of the report that re-queued it
    row(.queuedAfterFail, .failFinal, replay),  // same kind: a replay (the flag is not remembered)
    row(.queuedAfterFail, .failRetryableStale, leaseLost),
    row(.queuedAfterFail, .failFinalStale, leaseLost),
    row(.queuedAfterFail, .failUnknown, replay),
    row(.queuedAfterFail, .failUnknownStale, leaseLost),
    row(.queuedAfterFail, .skip, invalid),
    row(.queuedAfterFail, .skipStale, leaseLost),
    row(.queuedAfterFail, .leaseExpired, invalid),
    row(.queuedAfterFail, .connectionLost, invalid),
    row(.queuedAfterFail, .cancel, to(.skip(reason: "cancelled"))),
    row(.queuedAfterFail, .retry, invalid),
    row(.queuedAfterFail, .campaignEnded, to(.skip(reason: "campaign_ended"))),
    row(.queuedAfterFail, .optedOut, to(.skip(reason: "opted_out"))),

    // QUEUED after a lost lease (expired or connection closed before dialing; or an admin retry).
    row(.queuedAfterLostLease, .lease, to(.claim)),
    row(.queuedAfterLostLease, .dialAllowed, leaseLost),  // the lease is gone: never dial
    row(.queuedAfterLostLease, .dialRefused, leaseLost),
    row(.queuedAfterLostLease, .dialAllowedStale, leaseLost),
    row(.queuedAfterLostLease, .dialRefusedStale, leaseLost),
    row(.queuedAfterLostLease, .dialDeferred, leaseLost),
    row(.queuedAfterLostLease, .dialDeferredStale, leaseLost),
    row(.queuedAfterLostLease, .complete, leaseLost),
    row(.queuedAfterLostLease, .completeStale, leaseLost),
    row(.queuedAfterLostLease, .failRetryable, leaseLost),
    row(.queuedAfterLostLease, .failFinal, leaseLost),
    row(.queuedAfterLostLease, .failRetryableStale, leaseLost),
    row(.queuedAfterLostLease, .failFinalStale, leaseLost),
    row(.queuedAfterLostLease, .failUnknown, leaseLost),
    row(.queuedAfterLostLease, .failUnknownStale, leaseLost),
    row(.queuedAfterLostLease, .skip, leaseLost),
    row(.queuedAfterLostLease, .skipStale, leaseLost),
    row(.queuedAfterLostLease, .leaseExpired, invalid),
    row(.queuedAfterLostLease, .connectionLost, invalid),
    row(.queuedAfterLostLease, .cancel, to(.skip(reason: "cancelled"))),
    row(.queuedAfterLostLease, .retry, invalid),
    row(.queuedAfterLostLease, .campaignEnded, to(.skip(reason: "campaign_ended"))),
    row(.queuedAfterLostLease, .optedOut, to(.skip(reason: "opted_out"))),

    // ACTIVE/CLAIMED (lastReport nil: a fresh lease)
    row(.claimed, .lease, invalid),
    row(.claimed, .dialAllowed, to(.startDialing)),
    row(.claimed, .dialRefused, to(.skip(reason: rule))),
    row(.claimed, .dialAllowedStale, leaseLost),
    row(.claimed, .dialRefusedStale, leaseLost),
    row(.claimed, .dialDeferred, to(.deferDial(reason: later, until: deferUntil))),  // back to the queue, the attempt given back
    row(.claimed, .dialDeferredStale, leaseLost),
    row(.claimed, .complete, invalid),  // no call was placed: out of order
    row(.claimed, .completeStale, leaseLost),
    row(.claimed, .failRetryable, to(.retryLater), none: to(.fail(reason: .reported))),
    row(.claimed, .failFinal, to(.fail(reason: .reported))),
    row(.claimed, .failRetryableStale, leaseLost),
    row(.claimed, .failFinalStale, leaseLost),
    row(.claimed, .failUnknown, to(.fail(reason: .reported))),  // never dialed: a plain failure
    row(.claimed, .failUnknownStale, leaseLost),
    row(.claimed, .skip, to(.skip(reason: "agent"))),
    row(.claimed, .skipStale, leaseLost),
    row(.claimed, .leaseExpired, to(.requeueNow), none: to(.fail(reason: .leaseExpired))),
    row(.claimed, .connectionLost, to(.requeueNow), none: to(.fail(reason: .connectionLost))),
    row(.claimed, .cancel, to(.skip(reason: "cancelled"))),
    row(.claimed, .retry, invalid),
    row(.claimed, .campaignEnded, invalid),
    row(.claimed, .optedOut, to(.skip(reason: "opted_out"))),

    // ACTIVE/DIALING (lastReport dialing)
    row(.dialing, .lease, invalid),
    row(.dialing, .dialAllowed, replay),  // asked again after a reconnect: same answer
    row(.dialing, .dialRefused, replay),  // the earlier "allowed" stands: the call is under way
    row(.dialing, .dialAllowedStale, leaseLost),
    row(.dialing, .dialRefusedStale, leaseLost),
    row(.dialing, .dialDeferred, replay),
    row(.dialing, .dialDeferredStale, leaseLost),
    row(.dialing, .complete, to(.complete)),
    row(.dialing, .completeStale, leaseLost),
    row(.dialing, .failRetryable, to(.retryLater), none: to(.fail(reason: .reported))),
    row(.dialing, .failFinal, to(.fail(reason: .reported))),
    row(.dialing, .failRetryableStale, leaseLost),
    row(.dialing, .failFinalStale, leaseLost),
    row(.dialing, .failUnknown, to(.fail(reason: .outcomeUnknown))),  // never redialed, whatever the attempts left
    row(.dialing, .failUnknownStale, leaseLost),
    row(.dialing, .skip, invalid),  // a call is under way: report it
    row(.dialing, .skipStale, leaseLost),
    row(.dialing, .leaseExpired, to(.fail(reason: .outcomeUnknown))),  // never back to QUEUED
    row(.dialing, .connectionLost, invalid),  // DIALING keeps its lease until it expires
    row(.dialing, .cancel, to(.skip(reason: "cancelled"))),
    row(.dialing, .retry, invalid),
    row(.dialing, .campaignEnded, invalid),
    row(.dialing, .optedOut, invalid),

    // COMPLETED (lastReport complete)
    row(.completed, .lease, invalid),
    row(.completed, .dialAllowed, invalid),
    row(.completed, .dialRefused, invalid),
    row(.completed, .dialAllowedStale, leaseLost),
    row(.completed, .dialRefusedStale, leaseLost),
    row(.completed, .dialDeferred, invalid),
    row(.completed, .dialDeferredStale, leaseLost),
    row(.completed, .complete, replay),
    row(.completed, .completeStale, leaseLost),
    row(.completed, .failRetryable, invalid),  // the call was reported complete
    row(.completed, .failFinal, invalid),
    row(.completed, .failRetryableStale, leaseLost),
    row(.completed, .failFinalStale, leaseLost),
    row(.completed, .failUnknown, invalid),
    row(.completed, .failUnknownStale, leaseLost),
    row(.completed, .skip, invalid),
    row(.completed, .skipStale, leaseLost),
    row(.completed, .leaseExpired, invalid),
    row(.completed, .connectionLost, invalid),
    row(.completed, .cancel, invalid),
    row(.completed, .retry, invalid),
    row(.completed, .campaignEnded, invalid),
    row(.completed, .optedOut, invalid),

    // FAILED by a report (lastReport fail)
    row(.failedReported, .lease, invalid),
    row(.failedReported, .dialAllowed, invalid),
    row(.failedReported, .dialRefused, invalid),
    row(.failedReported, .dialAllowedStale, leaseLost),
    row(.failedReported, .dialRefusedStale, leaseLost),
    row(.failedReported, .dialDeferred, invalid),
    row(.failedReported, .dialDeferredStale, leaseLost),
    row(.failedReported, .complete, invalid),  // the call was reported failed
    row(.failedReported, .completeStale, leaseLost),
    row(.failedReported, .failRetryable, replay),
    row(.failedReported, .failFinal, replay),
    row(.failedReported, .failRetryableStale, leaseLost),
    row(.failedReported, .failFinalStale, leaseLost),
    row(.failedReported, .failUnknown, replay),
    row(.failedReported, .failUnknownStale, leaseLost),
    row(.failedReported, .skip, invalid),
    row(.failedReported, .skipStale, leaseLost),
    row(.failedReported, .leaseExpired, invalid),
    row(.failedReported, .connectionLost, invalid),
    row(.failedReported, .cancel, invalid),
    row(.failedReported, .retry, to(.reset)),
    row(.failedReported, .campaignEnded, invalid),
    row(.failedReported, .optedOut, invalid),

    // FAILED "lease_expired" (lastReport nil: the lease ran out before dialing, attempts used up)
    row(.failedLeaseExpired, .lease, invalid),
    row(.failedLeaseExpired, .dialAllowed, leaseLost),
    row(.failedLeaseExpired, .dialRefused, leaseLost),
    row(.failedLeaseExpired, .dialAllowedStale, leaseLost),
    row(.failedLeaseExpired, .dialRefusedStale, leaseLost),
    row(.failedLeaseExpired, .dialDeferred, leaseLost),
    row(.failedLeaseExpired, .dialDeferredStale, leaseLost),
    row(.failedLeaseExpired, .complete, leaseLost),
    row(.failedLeaseExpired, .completeStale, leaseLost),
    row(.failedLeaseExpired, .failRetryable, leaseLost),
    row(.failedLeaseExpired, .failFinal, leaseLost),
    row(.failedLeaseExpired, .failRetryableStale, leaseLost),
    row(.failedLeaseExpired, .failFinalStale, leaseLost),
    row(.failedLeaseExpired, .failUnknown, leaseLost),
    row(.failedLeaseExpired, .failUnknownStale, leaseLost),
    row(.failedLeaseExpired, .skip, leaseLost),
    row(.failedLeaseExpired, .skipStale, leaseLost),
    row(.failedLeaseExpired, .leaseExpired, invalid),
    row(.failedLeaseExpired, .connectionLost, invalid),
    row(.failedLeaseExpired, .cancel, invalid),
    row(.failedLeaseExpired, .retry, to(.reset)),
    row(.failedLeaseExpired, .campaignEnded, invalid),
    row(.failedLeaseExpired, .optedOut, invalid),

    // FAILED "outcome_unknown" (the DIALING lease expired): a late result with its token lands.
    row(.failedOutcomeUnknown, .lease, invalid),
    row(.failedOutcomeUnknown, .dialAllowed, invalid),  // never redialed by itself
    row(.failedOutcomeUnknown, .dialRefused, invalid),
    row(.failedOutcomeUnknown, .dialAllowedStale, leaseLost),
    row(.failedOutcomeUnknown, .dialRefusedStale, leaseLost),
    row(.failedOutcomeUnknown, .dialDeferred, invalid),
    row(.failedOutcomeUnknown, .dialDeferredStale, leaseLost),
    row(.failedOutcomeUnknown, .complete, to(.complete)),
    row(.failedOutcomeUnknown, .completeStale, leaseLost),
    // The real failure replaces outcome_unknown; even a retryable one is not retried by itself.
    row(.failedOutcomeUnknown, .failRetryable, to(.fail(reason: .reported))),
    row(.failedOutcomeUnknown, .failFinal, to(.fail(reason: .reported))),
    row(.failedOutcomeUnknown, .failRetryableStale, leaseLost),
    row(.failedOutcomeUnknown, .failFinalStale, leaseLost),
    row(.failedOutcomeUnknown, .failUnknown, to(.fail(reason: .outcomeUnknown))),  // the agent says so too, after the lease ran out: recorded
    row(.failedOutcomeUnknown, .failUnknownStale, leaseLost),
    row(.failedOutcomeUnknown, .skip, invalid),  // the call was placed: report its result
    row(.failedOutcomeUnknown, .skipStale, leaseLost),
    row(.failedOutcomeUnknown, .leaseExpired, invalid),
    row(.failedOutcomeUnknown, .connectionLost, invalid),
    row(.failedOutcomeUnknown, .cancel, invalid),
    row(.failedOutcomeUnknown, .retry, to(.reset)),
    row(.failedOutcomeUnknown, .campaignEnded, invalid),
    row(.failedOutcomeUnknown, .optedOut, invalid),

    // FAILED "outcome_unknown" reported by the agent itself (lastReport fail).
    row(.failedUnknownReported, .lease, invalid),
    row(.failedUnknownReported, .dialAllowed, invalid),  // never redialed by itself
    row(.failedUnknownReported, .dialRefused, invalid),
    row(.failedUnknownReported, .dialAllowedStale, leaseLost),
    row(.failedUnknownReported, .dialRefusedStale, leaseLost),
    row(.failedUnknownReported, .dialDeferred, invalid),
    row(.failedUnknownReported, .dialDeferredStale, leaseLost),
    row(.failedUnknownReported, .complete, to(.complete)),  // it learned the outcome after all
    row(.failedUnknownReported, .completeStale, leaseLost),
    row(.failedUnknownReported, .failRetryable, to(.fail(reason: .reported))),
    row(.failedUnknownReported, .failFinal, to(.fail(reason: .reported))),
    row(.failedUnknownReported, .failRetryableStale, leaseLost),
    row(.failedUnknownReported, .failFinalStale, leaseLost),
    row(.failedUnknownReported, .failUnknown, replay),  // a resend
    row(.failedUnknownReported, .failUnknownStale, leaseLost),
    row(.failedUnknownReported, .skip, invalid),
    row(.failedUnknownReported, .skipStale, leaseLost),
    row(.failedUnknownReported, .leaseExpired, invalid),
    row(.failedUnknownReported, .connectionLost, invalid),
    row(.failedUnknownReported, .cancel, invalid),
    row(.failedUnknownReported, .retry, to(.reset)),
    row(.failedUnknownReported, .campaignEnded, invalid),
    row(.failedUnknownReported, .optedOut, invalid),

    // SKIPPED by the agent's skip (lastReport skip)
    row(.skippedByAgent, .lease, invalid),
    row(.skippedByAgent, .dialAllowed, invalid),
    row(.skippedByAgent, .dialRefused, invalid),
    row(.skippedByAgent, .dialAllowedStale, leaseLost),
    row(.skippedByAgent, .dialRefusedStale, leaseLost),
    row(.skippedByAgent, .dialDeferred, invalid),
    row(.skippedByAgent, .dialDeferredStale, leaseLost),
    row(.skippedByAgent, .complete, invalid),
    row(.skippedByAgent, .completeStale, leaseLost),
    row(.skippedByAgent, .failRetryable, invalid),
    row(.skippedByAgent, .failFinal, invalid),
    row(.skippedByAgent, .failRetryableStale, leaseLost),
    row(.skippedByAgent, .failFinalStale, leaseLost),
    row(.skippedByAgent, .failUnknown, invalid),
    row(.skippedByAgent, .failUnknownStale, leaseLost),
    row(.skippedByAgent, .skip, replay),
    row(.skippedByAgent, .skipStale, leaseLost),
    row(.skippedByAgent, .leaseExpired, invalid),
    row(.skippedByAgent, .connectionLost, invalid),
    row(.skippedByAgent, .cancel, invalid),
    row(.skippedByAgent, .retry, to(.reset)),
    row(.skippedByAgent, .campaignEnded, invalid),
    row(.skippedByAgent, .optedOut, invalid),

    // SKIPPED by a dialing refusal (lastReport dialing): the agent learns it from a resend.
    row(.skippedRefused, .lease, invalid),
    row(.skippedRefused, .dialAllowed, replay),
    row(.skippedRefused, .dialRefused, replay),
    row(.skippedRefused, .dialAllowedStale, leaseLost),
    row(.skippedRefused, .dialRefusedStale, leaseLost),
    row(.skippedRefused, .dialDeferred, replay),
    row(.skippedRefused, .dialDeferredStale, leaseLost),
    row(.skippedRefused, .complete, invalid),  // no call was allowed
    row(.skippedRefused, .completeStale, leaseLost),
    row(.skippedRefused, .failRetryable, invalid),
    row(.skippedRefused, .failFinal, invalid),
    row(.skippedRefused, .failRetryableStale, leaseLost),
    row(.skippedRefused, .failFinalStale, leaseLost),
    row(.skippedRefused, .failUnknown, invalid),
    row(.skippedRefused, .failUnknownStale, leaseLost),
    row(.skippedRefused, .skip, invalid),
    row(.skippedRefused, .skipStale, leaseLost),
    row(.skippedRefused, .leaseExpired, invalid),
    row(.skippedRefused, .connectionLost, invalid),
    row(.skippedRefused, .cancel, invalid),
    row(.skippedRefused, .retry, to(.reset)),
    row(.skippedRefused, .campaignEnded, invalid),
    row(.skippedRefused, .optedOut, invalid),

    // SKIPPED "cancelled" by an admin (lastReport nil): every report of the lease is out of place.
    row(.skippedCancelled, .lease, invalid),
    row(.skippedCancelled, .dialAllowed, invalid),
    row(.skippedCancelled, .dialRefused, invalid),
    row(.skippedCancelled, .dialAllowedStale, leaseLost),
    row(.skippedCancelled, .dialRefusedStale, leaseLost),
    row(.skippedCancelled, .dialDeferred, invalid),
    row(.skippedCancelled, .dialDeferredStale, leaseLost),
    row(.skippedCancelled, .complete, invalid),  // e.g. a call that ends after a cancel
    row(.skippedCancelled, .completeStale, leaseLost),
    row(.skippedCancelled, .failRetryable, invalid),
    row(.skippedCancelled, .failFinal, invalid),
    row(.skippedCancelled, .failRetryableStale, leaseLost),
    row(.skippedCancelled, .failFinalStale, leaseLost),
    row(.skippedCancelled, .failUnknown, invalid),
    row(.skippedCancelled, .failUnknownStale, leaseLost),
    row(.skippedCancelled, .skip, invalid),
    row(.skippedCancelled, .skipStale, leaseLost),
    row(.skippedCancelled, .leaseExpired, invalid),
    row(.skippedCancelled, .connectionLost, invalid),
    row(.skippedCancelled, .cancel, invalid),
    row(.skippedCancelled, .retry, to(.reset)),
    row(.skippedCancelled, .campaignEnded, invalid),
    row(.skippedCancelled, .optedOut, invalid),

    // QUEUED after the pre-dial check deferred it (lastReport dialing, the attempt given back):
    // a resend of that check is a replay (its answer: not allowed, due at runAt); nothing else fits.
    row(.queuedAfterDeferral, .lease, to(.claim)),
    row(.queuedAfterDeferral, .dialAllowed, replay),
    row(.queuedAfterDeferral, .dialRefused, replay),
    row(.queuedAfterDeferral, .dialAllowedStale, leaseLost),
    row(.queuedAfterDeferral, .dialRefusedStale, leaseLost),
    row(.queuedAfterDeferral, .dialDeferred, replay),
    row(.queuedAfterDeferral, .dialDeferredStale, leaseLost),
    row(.queuedAfterDeferral, .complete, invalid),  // no call was allowed
    row(.queuedAfterDeferral, .completeStale, leaseLost),
    row(.queuedAfterDeferral, .failRetryable, invalid),
    row(.queuedAfterDeferral, .failFinal, invalid),
    row(.queuedAfterDeferral, .failRetryableStale, leaseLost),
    row(.queuedAfterDeferral, .failFinalStale, leaseLost),
    row(.queuedAfterDeferral, .failUnknown, invalid),
    row(.queuedAfterDeferral, .failUnknownStale, leaseLost),
    row(.queuedAfterDeferral, .skip, invalid),
    row(.queuedAfterDeferral, .skipStale, leaseLost),
    row(.queuedAfterDeferral, .leaseExpired, invalid),
    row(.queuedAfterDeferral, .connectionLost, invalid),
    row(.queuedAfterDeferral, .cancel, to(.skip(reason: "cancelled"))),
    row(.queuedAfterDeferral, .retry, invalid),
    row(.queuedAfterDeferral, .campaignEnded, to(.skip(reason: "campaign_ended"))),
    row(.queuedAfterDeferral, .optedOut, to(.skip(reason: "opted_out"))),

    // The provider's word that no call was placed under the key (a lookup, issue 16): only a job
    // FAILED outcome_unknown goes back to the queue (with one more attempt if none is left); a
    // resend after that, or after another failure report, replays; nothing else is changed by it;
    // a lease that ended unreported, or a stale token, is lost.
    row(.queuedNew, .notPlaced, leaseLost),
    row(.queuedNew, .notPlacedStale, leaseLost),
    row(.queuedAfterFail, .notPlaced, replay),
    row(.queuedAfterFail, .notPlacedStale, leaseLost),
    row(.queuedAfterLostLease, .notPlaced, leaseLost),
    row(.queuedAfterLostLease, .notPlacedStale, leaseLost),
    row(.claimed, .notPlaced, invalid),
    row(.claimed, .notPlacedStale, leaseLost),
    row(.dialing, .notPlaced, invalid),
    row(.dialing, .notPlacedStale, leaseLost),
    row(.completed, .notPlaced, invalid),
    row(.completed, .notPlacedStale, leaseLost),
    row(.failedReported, .notPlaced, replay),
    row(.failedReported, .notPlacedStale, leaseLost),
    row(.failedLeaseExpired, .notPlaced, leaseLost),
    row(.failedLeaseExpired, .notPlacedStale, leaseLost),
    row(.failedOutcomeUnknown, .notPlaced, to(.redialNotPlaced)),
    row(.failedOutcomeUnknown, .notPlacedStale, leaseLost),
    row(.failedUnknownReported, .notPlaced, to(.redialNotPlaced)),
    row(.failedUnknownReported, .notPlacedStale, leaseLost),
    row(.skippedByAgent, .notPlaced, invalid),
    row(.skippedByAgent, .notPlacedStale, leaseLost),
    row(.skippedRefused, .notPlaced, invalid),
    row(.skippedRefused, .notPlacedStale, leaseLost),
    row(.skippedCancelled, .notPlaced, invalid),
    row(.skippedCancelled, .notPlacedStale, leaseLost),
    row(.queuedAfterDeferral, .notPlaced, invalid),
    row(.queuedAfterDeferral, .notPlacedStale, leaseLost),
]

@Suite("JobStateMachine: every (state, event) pair")
struct JobStateMachineTableTests {
    @Test("the table covers every state × event once, and every Event case")
    func tableIsComplete() {
        var seen: [String: Int] = [:]
        for r in lifecycleTable { seen["\(r.state.rawValue)|\(r.event.rawValue)", default: 0] += 1 }
        for s in StateKind.allCases {
            for e in EventKey.allCases {
                #expect(seen["\(s.rawValue)|\(e.rawValue)"] == 1, "\(s.rawValue) × \(e.rawValue)")
            }
        }
        #expect(lifecycleTable.count == StateKind.allCases.count * EventKey.allCases.count)
        let covered = Set(EventKey.allCases.map { caseName($0.event) })
        #expect(
            covered == [
                "leaseRequested", "dialingRequested", "completeReported", "failReported", "skipReported",
                "leaseExpired", "connectionLost", "cancelRequested", "retryRequested", "campaignEnded", "numberOptedOut",
                "notPlacedConfirmed",
            ])
        // Every report kind is some state's lastReport, and so is "none".
        let kinds = Set(StateKind.allCases.map { $0.snapshot(attemptsLeft: true).lastReport })
        #expect(kinds == Set(JobStateMachine.ReportKind.allCases.map { Optional($0) } + [nil]))
    }

    @Test("decision with attempts left", arguments: lifecycleTable)
    func decisionWithAttemptsLeft(_ r: Row) {
        Self.check(r.state.snapshot(attemptsLeft: true), r.event.event, r.withAttemptsLeft)
    }

    @Test("decision with no attempts left", arguments: lifecycleTable)
    func decisionWithNoAttemptsLeft(_ r: Row) {
        Self.check(r.state.snapshot(attemptsLeft: false), r.event.event, r.withNoAttemptsLeft)
    }

    /// `decide` gives the expected decision without changing the job; `handle` gives the same
    /// decision, changes the job only on a transition, and then records the request that caused it.
    fileprivate static func check(_ snapshot: JobStateMachine.Snapshot, _ event: JobStateMachine.Event, _ expected: Decision) {
        let m = Machine(snapshot)
        #expect(m.decide(event) == expected)
        #expect(m.snapshot == snapshot, "decide must not change the job")

        var h = Machine(snapshot)
        #expect(h.handle(event, newToken: "fresh") == expected)
        if case .transition(let t) = expected {
            var a = Machine(snapshot)
            a.apply(t, newToken: "fresh", report: reportKind(event))
            #expect(h.snapshot == a.snapshot, "handle applies the decided transition")
            #expect(h.snapshot.lastReport == reportKind(event))
        } else {
            #expect(h.snapshot == snapshot, "a replay or a rejection changes nothing")
        }
    }
}

@Suite("JobStateMachine: scenarios")
struct JobStateMachineScenarioTests {
    @Test func claimStartsAnAttemptWithAFreshLease() {
        var m = Machine(.init(status: .queued, leaseToken: "old", attemptsMade: 1, maxAttempts: 3, lastReport: .fail))
        #expect(m.handle(.leaseRequested, newToken: "new") == .transition(.claim))
        #expect(m.snapshot == .init(status: .active, phase: .claimed, leaseToken: "new", attemptsMade: 2, maxAttempts: 3))
        for e in allReports(token: "old") { #expect(m.decide(e) == .reject(.leaseLost), "\(e)") }
    }

    @Test func dialingThenCompleteAndTheirResends() {
        var m = Machine(.init(status: .active, phase: .claimed, leaseToken: "t", attemptsMade: 1))
        #expect(m.handle(.dialingRequested(token: "t", verdict: .allowed)) == .transition(.startDialing))
        #expect(m.snapshot == .init(status: .active, phase: .dialing, leaseToken: "t", attemptsMade: 1, lastReport: .dialing))
        #expect(m.handle(.dialingRequested(token: "t", verdict: .allowed)) == .replay)
        #expect(m.handle(.completeReported(token: "t")) == .transition(.complete))
        #expect(m.snapshot == .init(status: .completed, leaseToken: "t", attemptsMade: 1, lastReport: .complete))
        let done = m.snapshot
        #expect(m.handle(.completeReported(token: "t")) == .replay)
        // The dialing request is no longer the last one: out of order now, not a replay.
        #expect(m.handle(.dialingRequested(token: "t", verdict: .allowed)) == .reject(.invalidState))
        #expect(m.handle(.failReported(token: "t", retryable: false)) == .reject(.invalidState))
        #expect(m.snapshot == done)
    }

    @Test func retryableFailureRequeuesAndIsReplayedUntilTheNextLease() {
        var m = Machine(.init(status: .active, phase: .dialing, leaseToken: "t", attemptsMade: 2, maxAttempts: 3, lastReport: .dialing))
        #expect(m.handle(.failReported(token: "t", retryable: true)) == .transition(.retryLater))
        #expect(m.snapshot == .init(status: .queued, leaseToken: "t", attemptsMade: 2, maxAttempts: 3, lastReport: .fail))
        #expect(m.handle(.failReported(token: "t", retryable: true)) == .replay)
        #expect(m.handle(.completeReported(token: "t")) == .reject(.invalidState))
        #expect(m.handle(.leaseRequested, newToken: "u") == .transition(.claim))
        #expect(m.handle(.failReported(token: "t", retryable: true)) == .reject(.leaseLost))
    }

    @Test("a lease lost before dialing re-queues (attempt still counted) and its reports are LEASE_LOST")
    func lostLeaseBeforeDialing() {
        for event in [JobStateMachine.Event.leaseExpired, .connectionLost] {
            var m = Machine(.init(status: .active, phase: .claimed, leaseToken: "t", attemptsMade: 2, maxAttempts: 3))
            #expect(m.handle(event) == .transition(.requeueNow))
            #expect(m.snapshot == .init(status: .queued, leaseToken: "t", attemptsMade: 2, maxAttempts: 3))
            for e in allReports(token: "t") { #expect(m.handle(e) == .reject(.leaseLost), "\(event): \(e)") }
        }
    }

    @Test("with no attempts left a lost lease fails the job, each with its own reason")
    func lostLeaseWithNoAttemptsLeft() {
        let cases: [(JobStateMachine.Event, JobStateMachine.FailReason)] = [
            (.leaseExpired, .leaseExpired), (.connectionLost, .connectionLost),
        ]
        for (event, reason) in cases {
            var m = Machine(.init(status: .active, phase: .claimed, leaseToken: "t", attemptsMade: 3, maxAttempts: 3))
            #expect(m.handle(event) == .transition(.fail(reason: reason)))
            #expect(m.snapshot == .init(status: .failed, leaseToken: "t", attemptsMade: 3, maxAttempts: 3))
            for e in allReports(token: "t") { #expect(m.handle(e) == .reject(.leaseLost), "\(event): \(e)") }
        }
        #expect(JobStateMachine.FailReason.connectionLost.rawValue == "connection_lost")
    }

    @Test func connectionLostWhileDialingKeepsTheLease() {
        var m = Machine(.init(status: .active, phase: .dialing, leaseToken: "t", attemptsMade: 1, lastReport: .dialing))
        let before = m.snapshot
        #expect(m.handle(.connectionLost) == .reject(.invalidState))
        #expect(m.snapshot == before)
        #expect(m.handle(.completeReported(token: "t")) == .transition(.complete))
    }

    @Test func leaseExpiryWhileDialingIsOutcomeUnknownAndALateCompleteReplacesIt() {
        var m = Machine(.init(status: .active, phase: .dialing, leaseToken: "t", attemptsMade: 1, lastReport: .dialing))
        #expect(m.handle(.leaseExpired) == .transition(.fail(reason: .outcomeUnknown)))
        #expect(m.snapshot == .init(status: .failed, leaseToken: "t", attemptsMade: 1, outcomeUnknown: true))
        #expect(m.decide(.dialingRequested(token: "t", verdict: .allowed)) == .reject(.invalidState))
        #expect(m.decide(.skipReported(token: "t")) == .reject(.invalidState))
        #expect(m.decide(.completeReported(token: "x")) == .reject(.leaseLost))
        #expect(m.handle(.completeReported(token: "t")) == .transition(.complete))
        #expect(m.snapshot == .init(status: .completed, leaseToken: "t", attemptsMade: 1, lastReport: .complete))
        #expect(m.handle(.completeReported(token: "t")) == .replay)
        #expect(m.handle(.failReported(token: "t", retryable: true)) == .reject(.invalidState))
    }

    @Test func aLateRetryableFailureAfterOutcomeUnknownIsFinal() {
        var m = Machine(.init(status: .active, phase: .dialing, leaseToken: "t", attemptsMade: 1, maxAttempts: 3, lastReport: .dialing))
        m.handle(.leaseExpired)
        #expect(m.handle(.failReported(token: "t", retryable: true)) == .transition(.fail(reason: .reported)))
        #expect(m.snapshot == .init(status: .failed, leaseToken: "t", attemptsMade: 1, maxAttempts: 3, lastReport: .fail))
        #expect(m.handle(.failReported(token: "t", retryable: true)) == .replay)
        #expect(m.handle(.completeReported(token: "t")) == .reject(.invalidState), "the outcome is known now")
        #expect(m.handle(.leaseRequested, newToken: "u") == .reject(.invalidState), "never redialed by itself")
    }

    @Test func refusedDialingSkipsAndTheResendTellsTheAgent() {
        var m = Machine(.init(status: .active, phase: .claimed, leaseToken: "t", attemptsMade: 1))
        #expect(m.handle(.dialingRequested(token: "t", verdict: .refused(rule: rule))) == .transition(.skip(reason: rule)))
        #expect(m.snapshot == .init(status: .skipped, leaseToken: "t", attemptsMade: 1, lastReport: .dialing))
        // The rule may have changed its mind meanwhile: the job stays SKIPPED either way.
        #expect(m.handle(.dialingRequested(token: "t", verdict: .allowed)) == .replay)
        #expect(m.handle(.skipReported(token: "t")) == .reject(.invalidState))
    }

    @Test func agentSkipIsReplayedAndNothingElse() {
        var m = Machine(.init(status: .active, phase: .claimed, leaseToken: "t", attemptsMade: 1))
        #expect(m.handle(.skipReported(token: "t")) == .transition(.skip(reason: "agent")))
        #expect(m.snapshot == .init(status: .skipped, leaseToken: "t", attemptsMade: 1, lastReport: .skip))
        #expect(m.handle(.skipReported(token: "t")) == .replay)
        #expect(m.handle(.dialingRequested(token: "t", verdict: .allowed)) == .reject(.invalidState))
    }

    @Test("an admin cancel ends the lease: the agent's reports are INVALID_STATE, never replays")
    func cancelWhileDialing() {
        var m = Machine(.init(status: .active, phase: .dialing, leaseToken: "t", attemptsMade: 1, lastReport: .dialing))
        #expect(m.handle(.cancelRequested) == .transition(.skip(reason: "cancelled")))
        #expect(m.snapshot == .init(status: .skipped, leaseToken: "t", attemptsMade: 1))
        for e in allReports(token: "t") { #expect(m.handle(e) == .reject(.invalidState), "\(e)") }
        for e in allReports(token: "other") { #expect(m.handle(e) == .reject(.leaseLost), "\(e)") }
        #expect(m.handle(.cancelRequested) == .reject(.invalidState))
    }

    @Test("a report that did not bring the job to DIALING is not a resend there")
    func dialingReachedAnotherWay() {
        // A row whose DIALING phase was not recorded with this machine's `handle` (lastReport nil).
        let m = Machine(.init(status: .active, phase: .dialing, leaseToken: "t", attemptsMade: 1))
        #expect(m.decide(.dialingRequested(token: "t", verdict: .allowed)) == .reject(.invalidState))
        #expect(m.decide(.completeReported(token: "t")) == .transition(.complete))
    }

    @Test func skipAndFailEndTheLease() {
        var m = Machine(.init(status: .active, phase: .claimed, leaseToken: "t", attemptsMade: 1))
        m.apply(.skip(reason: "invalid_phone"), report: .skip)
        #expect(m.snapshot == .init(status: .skipped, leaseToken: "t", attemptsMade: 1, lastReport: .skip))
        var f = Machine(.init(status: .active, phase: .claimed, leaseToken: "t", attemptsMade: 3, maxAttempts: 3))
        f.apply(.fail(reason: .leaseExpired))
        #expect(f.snapshot == .init(status: .failed, leaseToken: "t", attemptsMade: 3, maxAttempts: 3))
    }

    @Test("apply records the report it is given, and clears it when given none")
    func applyRecordsTheReport() {
        var m = Machine(.init(status: .active, phase: .claimed, leaseToken: "t", attemptsMade: 1))
        m.apply(.startDialing, report: .dialing)
        #expect(m.snapshot.lastReport == .dialing)
        m.apply(.fail(reason: .outcomeUnknown))
        #expect(m.snapshot.lastReport == nil && m.snapshot.outcomeUnknown)
    }

    @Test func resetExtendsTheBudgetByAtLeastOneAndEndsTheOldLease() {
        var m = Machine(
            .init(status: .failed, leaseToken: "t", attemptsMade: 3, maxAttempts: 3, outcomeUnknown: true))
        #expect(m.handle(.retryRequested, retryBudget: 2) == .transition(.reset))
        #expect(m.snapshot == .init(status: .queued, leaseToken: "t", attemptsMade: 3, maxAttempts: 5))
        // The call whose outcome was unknown reports too late: the admin's retry came first.
        for e in allReports(token: "t") { #expect(m.decide(e) == .reject(.leaseLost), "\(e)") }

        var z = Machine(.init(status: .skipped, leaseToken: "t", attemptsMade: 1, maxAttempts: 1, lastReport: .skip))
        z.handle(.retryRequested, retryBudget: 0)
        #expect(z.snapshot == .init(status: .queued, leaseToken: "t", attemptsMade: 1, maxAttempts: 2))
        #expect(z.handle(.skipReported(token: "t")) == .reject(.leaseLost), "no longer a resend")
        #expect(z.handle(.leaseRequested, newToken: "u") == .transition(.claim))
    }
}

@Suite("JobStateMachine: random event sequences")
struct JobStateMachinePropertyTests {
    @Test("invariants hold over 2,000 random sequences of 60 events")
    func invariants() {
        var rng = SplitMix64(seed: 0x5EED_CA11)
        var seen: [String: Int] = [:]
        for _ in 0..<2000 {
            var tokenCounter = 0
            var issued: Set<String> = []
            /// Tokens whose lease ended without a report (lost, or ended by an admin retry).
            var lost: Set<String> = []
            var m = Machine(.init(status: .queued, attemptsMade: 0, maxAttempts: Int.random(in: 1...4, using: &rng)))
            var dialsThisLease = 0
            var unknownSinceReset = false

            for _ in 0..<60 {
                let before = m.snapshot
                let token: String = {
                    if let t = before.leaseToken, Int.random(in: 0..<10, using: &rng) < 7 { return t }
                    let others = issued.filter { $0 != before.leaseToken }.sorted()
                    if !others.isEmpty, Bool.random(using: &rng) { return others.randomElement(using: &rng)! }
                    return "never-issued"
                }()
                let event = Self.randomEvent(token: token, using: &rng)
                let eventToken = Self.token(of: event)
                let kind = reportKind(event)
                let isStale = eventToken.map { $0 != before.leaseToken } ?? false

                let pure = m.decide(event)
                #expect(m.snapshot == before, "decide is pure")
                var newToken: String? = nil
                if pure == .transition(.claim) {
                    tokenCounter += 1
                    newToken = "tok-\(tokenCounter)"
                }
                let decision = m.handle(event, newToken: newToken, retryBudget: Int.random(in: 0...3, using: &rng))
                #expect(decision == pure, "handle decides as decide does")
                let after = m.snapshot
                seen[Self.label(decision, before: before), default: 0] += 1

                // A stale token is always refused as LEASE_LOST and changes nothing.
                if isStale {
                    #expect(decision == .reject(.leaseLost), "\(before) \(event)")
                    #expect(after == before)
                    continue
                }
                // A lease that ended without a report never acts again: LEASE_LOST, unless an admin
                // has since cancelled the job (INVALID_STATE).
                if let t = eventToken, lost.contains(t) {
                    let cancelled = before.status == .skipped && before.lastReport == nil
                    #expect(decision == (cancelled ? Decision.reject(.invalidState) : Decision.reject(.leaseLost)), "\(before) \(event)")
                }
                guard case .transition(let t) = decision else {
                    // A replay or a rejection changes nothing; a current-token request that cannot
                    // act is a replay exactly when it repeats the request that got the job here.
                    #expect(after == before, "\(decision) changed \(before) by \(event)")
                    if let kind { #expect((decision == .replay) == (before.lastReport == kind), "\(before) \(event)") }
                    continue
                }

                // handle records the request that caused the transition (none for the others).
                #expect(after.lastReport == kind, "\(event) → \(t)")
                if t == .claim {
                    #expect(!unknownSinceReset, "a job with an unknown outcome is never redialed by itself")
                    #expect(newToken != nil && !issued.contains(newToken!))
                    issued.insert(newToken!)
                    dialsThisLease = 0
                }
                if t == .startDialing {
                    dialsThisLease += 1
                    #expect(dialsThisLease == 1, "at most one call per lease")
                }
                if after.outcomeUnknown { unknownSinceReset = true }
                if t == .reset || t == .redialNotPlaced { unknownSinceReset = false }  // an admin's or the provider's word

                // A terminal job changes only by an admin retry, or by the late report of a call whose
                // DIALING lease expired (with that lease's token).
                if before.status.isTerminal {
                    let lateReport: Bool
                    switch event {
                    case .completeReported, .failReported, .notPlacedConfirmed:
                        lateReport = before.outcomeUnknown && before.status == .failed
                    default: lateReport = false
                    }
                    #expect(
                        (event == .retryRequested && t == .reset) || lateReport,
                        "terminal \(before) changed by \(event) → \(t)")
                }
                // attemptsMade grows by exactly one only on claim, which is also the only thing
                // that changes the token (a fresh one, never seen before); a deferred dial gives
                // that attempt back; nothing else changes it.
                if t == .claim {
                    #expect(after.attemptsMade == before.attemptsMade + 1)
                    #expect(after.leaseToken == newToken && after.leaseToken != before.leaseToken)
                } else if case .deferDial = t {
                    #expect(after.attemptsMade == before.attemptsMade - 1 && before.phase == .claimed)
                    #expect(after.leaseToken == before.leaseToken && after.status == .queued)
                } else {
                    #expect(after.attemptsMade == before.attemptsMade, "\(event) → \(t)")
                    #expect(after.leaseToken == before.leaseToken, "\(event) → \(t)")
                }
                // A campaign's end takes only jobs waiting in the queue; leased ones finish.
                if event == .campaignEnded { #expect(before.status == .queued, "\(before) ended by its campaign") }
                // DIALING never goes back to QUEUED by itself (only a retryable failure report re-queues it).
                if before.status == .active, before.phase == .dialing, after.status == .queued {
                    if case .failReported(_, true, false) = event {} else {
                        Issue.record("DIALING → QUEUED by \(event)")
                    }
                }
                // At most one live lease: ACTIVE has a token and a phase, nothing else has a phase.
                if after.status == .active {
                    #expect(after.leaseToken != nil && after.phase != nil)
                } else {
                    #expect(after.phase == nil)
                }
                #expect(!after.outcomeUnknown || (after.status == .failed && after.lastReport == nil))
                #expect(after.attemptsMade <= after.maxAttempts)
                if after.status == .queued { #expect(after.attemptsMade < after.maxAttempts) }

                // Sending the report just applied again is a replay and changes nothing.
                if kind != nil {
                    #expect(m.handle(event) == .replay, "resend of \(event) after \(t)")
                    #expect(m.snapshot == after)
                }
                // After an admin retry or a lease lost without a report, the old lease's reports
                // are LEASE_LOST. (A DIALING lease that expires is not lost that way: its result still lands.)
                let endsLeaseUnreported: Bool
                switch t {
                case .reset, .requeueNow, .fail(reason: .leaseExpired), .fail(reason: .connectionLost):
                    endsLeaseUnreported = true
                default: endsLeaseUnreported = false
                }
                if endsLeaseUnreported, let old = before.leaseToken {
                    lost.insert(old)
                    for e in allReports(token: old) {
                        #expect(m.decide(e) == .reject(.leaseLost), "after \(t): \(e)")
                    }
                }
                if t == .fail(reason: .outcomeUnknown), let old = before.leaseToken {
                    #expect(m.decide(.completeReported(token: old)) == .transition(.complete))
                    #expect(m.decide(.failReported(token: old, retryable: true)) == .transition(.fail(reason: .reported)))
                }
            }
        }
        // The random walk reached every transition and every kind of answer.
        for name in [
            "claim", "startDialing", "complete", "complete/late", "retryLater", "requeueNow", "reset", "deferDial",
            "skip/agent", "skip/rule", "skip/cancelled", "skip/campaign_ended",
            "fail/reported", "fail/reported/late", "fail/lease_expired", "fail/connection_lost", "fail/outcome_unknown",
            "redialNotPlaced",
            "replay", "reject/LEASE_LOST", "reject/INVALID_STATE",
        ] {
            #expect(seen[name, default: 0] > 0, "never saw \(name): \(seen.keys.sorted())")
        }
    }

    static func label(_ d: JobStateMachine.Decision, before: JobStateMachine.Snapshot) -> String {
        let late = before.status == .failed ? "/late" : ""
        switch d {
        case .replay: return "replay"
        case .reject(let r): return "reject/\(r.rawValue)"
        case .transition(let t):
            switch t {
            case .claim: return "claim"
            case .startDialing: return "startDialing"
            case .complete: return "complete\(late)"
            case .retryLater: return "retryLater"
            case .requeueNow: return "requeueNow"
            case .fail(let reason): return "fail/\(reason.rawValue)\(reason == .reported ? late : "")"
            case .skip(let reason):
                return ["cancelled", "agent", "campaign_ended", "opted_out"].contains(reason) ? "skip/\(reason)" : "skip/rule"
            case .deferDial: return "deferDial"
            case .reset: return "reset"
            case .redialNotPlaced: return "redialNotPlaced"
            }
        }
    }

    static func token(of event: JobStateMachine.Event) -> String? {
        switch event {
        case .dialingRequested(let t, _), .completeReported(let t), .failReported(let t, _, _), .skipReported(let t),
            .notPlacedConfirmed(let t):
            return t
        case .leaseRequested, .leaseExpired, .connectionLost, .cancelRequested, .retryRequested, .campaignEnded,
            .numberOptedOut:
            return nil
        }
    }

    static func randomEvent(token: String, using rng: inout SplitMix64) -> JobStateMachine.Event {
        // Weighted so that jobs get far enough to exercise every transition.
        switch Int.random(in: 0..<25, using: &rng) {
        case 0..<4: return .leaseRequested
        case 4..<7: return .dialingRequested(token: token, verdict: .allowed)
        case 7: return .dialingRequested(token: token, verdict: .refused(rule: rule))
        case 8..<10: return .completeReported(token: token)
        case 10..<13: return .failReported(token: token, retryable: Bool.random(using: &rng))
        case 13: return .skipReported(token: token)
        case 14..<17: return .leaseExpired
        case 17..<19: return .connectionLost
        case 19: return .cancelRequested
        case 20: return .dialingRequested(token: token, verdict: .deferred(rule: later, until: deferUntil))
        case 21: return .campaignEnded
        case 22: return .notPlacedConfirmed(token: token)
        default: return .retryRequested
        }
    }
}
