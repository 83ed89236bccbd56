import CampaignCore
import CampaignProtocol
import Foundation
import Logging

// MARK: Leasing

extension PostgresJobStore {
    /// Leases up to `max` due jobs to `owner` for `leaseSeconds` (CLAIMED: the agent asks
    /// `jobs.dialing` before each call). A group of one of ``lease(_:leaseSeconds:rules:)``.
    public func lease(owner: String, max: Int, leaseSeconds: Int) async throws -> [LeasedJob] {
        guard max > 0 else { return [] }
        return try await self.lease([LeaseRequest(owner: owner, max: max)], leaseSeconds: leaseSeconds)[0].jobs
    }

    /// Serves the `jobs.lease` requests of many agents in one transaction (group commit).
    ///
    /// Due rows of each leasable campaign (those `rules` names, open now) are locked best first
    /// (`SKIP LOCKED`) and handed out in request order, each next job from the campaign the
    /// ``FairShare`` picks among those with rows left (and, for `dial`, room under their own
    /// limit). Each lease is decided by the ``JobStateMachine`` (`leaseRequested`); for a request
    /// with `dial`, the same machine then decides `dialingRequested` with the verdict of the
    /// business rules and the limits taken under the dial-limits lock, in this transaction, at
    /// this instant — the check `jobs.dialing` would make, only without a second round trip. A
    /// provider limit leaves the jobs it holds back QUEUED (the answer says when to ask again);
    /// a rule's refusal makes the job SKIPPED with the rule. One statement writes every decision.
    public func lease(
        _ requests: [LeaseRequest], leaseSeconds: Int, rules: DialRules = .unrestricted
    ) async throws -> [LeaseAnswer] {
        guard requests.contains(where: { $0.max > 0 }) else { return requests.map { _ in LeaseAnswer() } }
        let shares = self.shares
        return try await self.pool.transaction { conn in
            // One round trip to lock (with the BEGIN), one to write (with the COMMIT).
            let dialing = requests.contains(where: { $0.dial && $0.max > 0 })
            // As many rows as asked for, of each campaign, even when a limit will hold some back:
            // a rule's refusal spends no call slot, so the next row may still be dialed. Rows not
            // handed out stay QUEUED, locked only until this transaction ends.
            let wanted = requests.reduce(0) { $0 + max(0, $1.max) }
            var locking = Pipeline()
            try locking.add(SQL.ForceGenericPlans())
            let counters = dialing ? try DialLimiter.lock(in: &locking, rules) : nil
            let dueSlot = try locking.add(SQL.JobsLockDue(limit: wanted, campaignIds: rules.campaignIds, numberCalls: dialing))
            let locked = try conn.pipeline(locking)
            var limits = try counters.map { DialLimiter(try locked.rows($0), rules: rules) }
            var due: [Int64: ArraySlice<LockedJob>] = [:]
            for job in try locked.rows(dueSlot) { due[job.campaignId, default: []].append(job) }
            let weights = rules.campaigns.mapValues(\.weight)  // read once, not a rules copy per pick

            var answers = requests.map { _ in LeaseAnswer() }
            var writes: [LeaseWrite] = []
            // Deferred by the pre-dial check ("not yet"): the lease never takes effect; the job
            // stays QUEUED with its attempts, due at the next allowed instant.
            var deferred: [TransitionWrite] = []
            var dialed: [Int64] = []
            var facts = DispatchFacts()
            for (i, request) in requests.enumerated() {
                var handed = 0
                while handed < request.max {
                    // The campaigns that can take a job now: rows left, and with `dial` room
                    // under their own limit.
                    let candidates = due.compactMap { id, rows -> (id: Int64, weight: Int)? in
                        guard !rows.isEmpty, !request.dial || limits!.hasRoom(campaign: id) else { return nil }
                        return (id, weights[id] ?? 1)
                    }
                    // One campaign with jobs: nothing to share (the common case, kept cheap).
                    let pick: Int64? = candidates.count == 1 ? candidates[0].id : shares.withLockedValue { $0.pick(candidates) }
                    guard let campaign = pick, var job = due[campaign]?.first else { break }
                    let token = UUID().uuidString.lowercased()
                    job.machine.handle(.leaseRequested, newToken: token)
                    var write = LeaseWrite(id: job.id, owner: request.owner, token: token)
                    if request.dial {
                        let event = JobStateMachine.Event.dialingRequested(token: token, verdict: limits!.verdict(for: job))
                        if job.machine.decide(event) == .transition(.startDialing), let wait = limits!.admit(campaign: campaign, phone: job.phone) {
                            // Over the provider's limit: this job and the rest stay QUEUED for now.
                            facts.providerLimitWaits += 1
                            answers[i].retryAfterMs = wait
                            break
                        }
                        let (decision, decided) = job.machine.write(event, queueJobId: job.queueJobId)
                        write.result = decided?.result
                        write.idempotencyKey = decided?.idempotencyKey?.description
                        if case .transition(.deferDial(let rule, let until)) = decision, var postponed = decided {
                            facts.refusals.append(.init(campaignId: campaign, rule: rule))
                            limits!.noteRefusal(job, rule: rule, until: until, by: request.owner)
                            postponed.lastReport = nil  // no agent saw this lease
                            deferred.append(TransitionWrite(id: job.id, write: postponed))
                            due[campaign]!.removeFirst()
                            handed += 1
                            continue
                        }
                        if case .transition(.skip(let rule)) = decision {
                            facts.refusals.append(.init(campaignId: campaign, rule: rule))
                            limits!.noteRefusal(job, rule: rule, until: nil, by: request.owner)
                            answers[i].refused.append(DialRefusal(jobId: job.id, rule: rule))
                        } else {
                            dialed.append(job.customerId)
                        }
                    }
                    write.status = job.machine.snapshot.status
                    write.phase = job.machine.snapshot.phase
                    write.lastReport = job.machine.snapshot.lastReport
                    writes.append(write)
                    due[campaign]!.removeFirst()
                    handed += 1
                    if job.machine.snapshot.status == .active {
                        if let due = job.dueForSeconds { facts.pickupSeconds.append(max(0, due)) }
                        answers[i].jobs.append(job.leased(token: token, idempotencyKey: write.idempotencyKey))
                    }
                }
                // Served short because the limits are spent (here or by earlier requests).
                if request.dial, handed < request.max, answers[i].retryAfterMs == nil, let l = limits {
                    let waiting = due.contains { id, rows in !rows.isEmpty && !l.hasRoom(campaign: id) }
                    if !l.providerHasRoom {
                        facts.providerLimitWaits += 1
                        answers[i].retryAfterMs = l.provider.waitMs
                    } else if waiting {
                        answers[i].retryAfterMs = 1000  // a campaign's own limit: until a call may end
                    }
                }
            }
            guard !writes.isEmpty || !deferred.isEmpty else {
                self.tell(facts)
                return answers
            }
            var writing = Pipeline()
            if !deferred.isEmpty { try writing.add(SQL.JobsDefer(writes: deferred)) }
            let leased = writes.isEmpty ? nil : try writing.add(SQL.JobsLeaseWrite(writes: writes, leaseSeconds: leaseSeconds))
            try limits?.record(customers: dialed, in: &writing)
            var expiries: [Int64: String] = [:]
            let results = try conn.pipeline(writing, commit: true)
            if let leased { for (id, expiry) in try results.rows(leased) { expiries[id] = expiry } }
            for i in answers.indices {
                for k in answers[i].jobs.indices { answers[i].jobs[k].leaseExpiresAt = expiries[answers[i].jobs[k].jobId] ?? "" }
                answers[i].jobs.sort { $0.jobId < $1.jobId }  // as jobs.lease always answered
            }
            self.tell(facts)
            return answers
        }
    }
}
