import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Agent-side writes

extension PostgresJobStore {
    /// Applies a batch of agent requests in one transaction and answers each in order.
    ///
    /// Rows are locked (`FOR UPDATE`), each request is decided by the ``JobStateMachine`` against
    /// the row as earlier requests of the batch left it, and all transitions are written with
    /// one statement. Call logs of placed calls are kept whatever the decision. A retry backs
    /// off by its campaign's policy in `rules`, else by `retry`.
    public func apply(
        _ requests: [JobRequest], retry: RetryPolicy, rules: DialRules = .unrestricted
    ) async throws -> [JobRequestOutcome] {
        guard !requests.isEmpty else { return [] }
        let randomUnit = self.randomUnit
        return try await self.pool.transaction { conn in
            // Dialing checks count calls: serialise them across coordinators (taken before any row
            // lock, always in the same order, so it cannot deadlock with them).
            // One round trip to lock (with the BEGIN), one to write (with the COMMIT).
            let dialing = requests.contains(where: { $0.kind == .dialing })
            // An opt-out a call reported suppresses its number with the report: under the same lock,
            // so no pre-dial check of another coordinator decides between the two.
            let optingOut = requests.contains { $0.call?.optOut == true }
            // A retry due at the customer's next window needs the customer's zone.
            let windowRetries = rules.campaigns.values.contains { $0.schedule.needsWindows }
                && requests.contains { if case .fail(true, _, _?, false) = $0.kind { true } else { false } }
            let ids = Array(Set(requests.map { $0.jobId })).sorted()
            var locking = Pipeline()
            let counters = dialing || optingOut ? try DialLimiter.lock(in: &locking, rules) : nil
            let lockSlot = try LockedJob.lock(in: &locking, ids: ids, withCustomers: dialing || windowRetries || optingOut)
            let locked = try conn.pipeline(locking)
            var limits = try counters.map { DialLimiter(try locked.rows($0), rules: rules) }
            // Each campaign's backoff, read once (a lookup of the rules copies them whole).
            let backoffs = rules.campaigns.mapValues { $0.retry ?? retry }
            var jobs = try lockSlot.jobs(locked)
            // The opt-outs, one per number: its call is named as the source, its agent as who.
            var optOuts: [String: (phone: String, source: String, by: String)] = [:]
            for r in requests where r.call?.optOut == true {
                guard let phone = jobs[r.jobId]?.phone, !phone.isEmpty, let call = r.call else { continue }
                optOuts[phone] = (phone, "call \(call.provider) \(call.providerCallId ?? call.idempotencyKey)", "agent:\(r.agent)")
            }
            limits?.optedOut = Set(optOuts.keys)
            var writes: [Int64: TransitionWrite] = [:]
            var deferred: [TransitionWrite] = []  // "not yet" at the pre-dial check: back to the queue
            var calls: [CallLogWrite] = []
            var dialed: [Int64] = []
            var outcomes: [JobRequestOutcome?] = []
            var replayed = Set<Int>()
            var facts = DispatchFacts()

            for (i, request) in requests.enumerated() {
                guard var job = jobs[request.jobId] else {
                    outcomes.append(.notFound)
                    continue
                }
                if let call = request.call, let write = CallLogWrite(call: call, job: job, agent: request.agent) {
                    calls.append(write)
                }
                let event: JobStateMachine.Event
                var details = JobStateMachine.ReportDetails()
                var retryPlan: RetrySchedule.Plan?
                switch request.kind {
                case .dialing:
                    let verdict = limits!.verdict(for: job)
                    event = .dialingRequested(token: request.leaseToken, verdict: verdict)
                    // Allowed by the rules but over a provider limit: the agent waits and asks again.
                    if job.machine.decide(event) == .transition(.startDialing), let wait = limits!.admit(campaign: job.campaignId, phone: job.phone) {
                        facts.providerLimitWaits += 1
                        outcomes.append(.dialing(DialingJob.Result(
                            allowed: false, idempotencyKey: nil, rule: nil, status: .active, retryAfterMs: wait)))
                        continue
                    }
                case .complete(let outcome):
                    event = .completeReported(token: request.leaseToken)
                    details.outcome = outcome.rawValue
                case .fail(let retryable, let error, let outcome, let unknown):
                    // The campaign's retries by outcome: when this one's are spent, it fails for good.
                    retryPlan = retryable && !unknown
                        ? rules.campaigns[job.campaignId]?.schedule.plan(
                            outcome: outcome, afterAttempt: job.machine.snapshot.attemptsMade, now: Date(),
                            windows: rules.campaigns[job.campaignId]!.policy.windows,
                            timeZone: TimeZone(identifier: job.timezone) ?? TimeZone(identifier: "UTC")!)
                        : nil
                    event = .failReported(
                        token: request.leaseToken, retryable: retryable && retryPlan != .noMoreRetries, outcomeUnknown: unknown)
                    details = .init(outcome: outcome?.rawValue, error: error)
                case .skip(let detail):
                    event = .skipReported(token: request.leaseToken)
                    details.skipDetail = detail
                case .notPlaced(let error):
                    event = .notPlacedConfirmed(token: request.leaseToken)
                    details.error = error
                }
                // Lock → ask → write: the machine decides the whole write.
                let (decision, decided) = job.machine.write(
                    event, details: details, queueJobId: job.queueJobId, retry: backoffs[job.campaignId] ?? retry,
                    randomUnit: randomUnit())
                switch decision {
                case .reject(let rejection):
                    outcomes.append(.rejected(rejection, status: job.machine.snapshot.status))
                case .replay:
                    replayed.insert(i)
                    outcomes.append(nil)
                case .transition(.deferDial(let rule, let until)):
                    facts.refusals.append(.init(campaignId: job.campaignId, rule: rule))
                    limits?.noteRefusal(job, rule: rule, until: until, by: request.agent)
                    deferred.append(TransitionWrite(id: job.id, write: decided!))
                    jobs[job.id] = job
                    outcomes.append(nil)
                case .transition(let t):
                    if t == .startDialing { dialed.append(job.customerId) }
                    if case .skip(let rule) = t, request.kind == .dialing {
                        facts.refusals.append(.init(campaignId: job.campaignId, rule: rule))
                        limits?.noteRefusal(job, rule: rule, until: nil, by: request.agent)
                    }
                    var write = decided!
                    if t == .retryLater, case .at(let due)? = retryPlan {
                        write.runAt = due  // the outcome's own delay, not the backoff
                        write.delayMs = nil
                    }
                    if let previous = writes[job.id] { write.mergeKeeping(previous.write) }
                    writes[job.id] = TransitionWrite(id: job.id, write: write)
                    jobs[job.id] = job
                    outcomes.append(nil)
                }
            }

            // Every other open job of an opted-out number: SKIPPED `opted_out`, as the machine decides.
            if !optOuts.isEmpty {
                let others = try conn.rows(SQL.JobsLockOpenOfNumbers(phones: optOuts.keys.sorted(), excluding: ids))
                for var other in others where writes[other.id] == nil {
                    guard case (.transition, let write?) = other.machine.write(.numberOptedOut) else { continue }
                    writes[other.id] = TransitionWrite(id: other.id, write: write)
                }
            }

            // Answer from the rows as they are now: the written ones come back from the update,
            // the others (replays) are read after it. Call logs go first: their job's key check
            // then finds the row this transaction holds FOR UPDATE (no KEY SHARE lock to write).
            let unwritten = Set(requests.enumerated().filter { replayed.contains($0.offset) }.map { $0.element.jobId })
                .subtracting(writes.keys).subtracting(deferred.map(\.id))
            var writing = Pipeline()
            let logged = calls.isEmpty ? nil : try writing.add(SQL.CallLogsInsert(calls: CallLogWrite.onePerCall(calls)))
            let written = writes.isEmpty ? nil : try writing.add(SQL.JobsApplyTransitions(writes: Array(writes.values)))
            let postponed = deferred.isEmpty ? nil : try writing.add(SQL.JobsDefer(writes: deferred))
            try limits?.record(customers: dialed, in: &writing)
            if !optOuts.isEmpty { try writing.add(SQL.OptOutRecord(optOuts: optOuts.values.sorted { $0.phone < $1.phone })) }
            let read = unwritten.isEmpty ? nil : try writing.add(SQL.JobsReportView(ids: unwritten.sorted()))
            var views: [Int64: ReportView] = [:]
            if !writing.steps.isEmpty {
                let results = try conn.pipeline(writing, commit: true)
                if let written { views = ReportView.byId(try results.rows(written)) }
                if let postponed { views.merge(ReportView.byId(try results.rows(postponed)), uniquingKeysWith: { a, _ in a }) }
                if let read { views.merge(ReportView.byId(try results.rows(read)), uniquingKeysWith: { a, _ in a }) }
                if let logged {
                    facts.calls = try results.rows(logged).map { call in
                        .init(
                            campaignId: jobs[call.jobId]?.campaignId ?? CampaignRecord.defaultID, outcome: call.outcome,
                            durationSeconds: call.durationSeconds)
                    }
                }
            }
            self.tell(facts)
            return requests.enumerated().map { i, request in
                if let decided = outcomes[i] { return decided }
                let view = views[request.jobId]!
                let job = jobs[request.jobId]!
                if request.kind == .dialing {
                    let allowed = view.status == .active && job.machine.snapshot.phase == .dialing
                    return .dialing(DialingJob.Result(
                        allowed: allowed, idempotencyKey: allowed ? job.idempotencyKey : nil,
                        rule: allowed ? nil : view.result?["reason"]?.stringValue, status: view.status,
                        retryAfterMs: nil, runAt: view.status == .queued ? view.runAt : nil))
                }
                return .report(ReportResult(
                    jobId: request.jobId, status: view.status, attemptsMade: view.attemptsMade,
                    runAt: view.status == .queued ? view.runAt : nil, replayed: replayed.contains(i),
                    result: view.result))
            }
        }
    }
}
