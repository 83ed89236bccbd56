import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging

/// The agent side: `agent.hello`, `jobs.lease` and the reports (`jobs.dialing`, `jobs.complete`,
/// `jobs.fail`, `jobs.skip`, `jobs.report`), each group-committed by a ``RequestBatcher``.
struct AgentHandlers: MethodGroup {
    let coordinator: Coordinator
    var sessions: AgentSessions { self.coordinator.sessions }

    func register(on router: RPCRouter) {
        router.register(AgentHello.self) { p, ctx in try await self.hello(p, ctx) }
        router.register(LeaseJobs.self) { p, ctx in try await self.lease(p, ctx) }
        router.register(DialingJob.self) { p, ctx in
            try await self.agentRequest(JobRequest(jobId: p.jobId, leaseToken: p.leaseToken, kind: .dialing, agent: ""), ctx)
                .dialing()
        }
        router.register(CompleteJob.self) { p, ctx in try await self.agentRequest(Self.jobRequest(p), ctx).report() }
        router.register(FailJob.self) { p, ctx in try await self.agentRequest(Self.jobRequest(p), ctx).report() }
        router.register(SkipJob.self) { p, ctx in try await self.agentRequest(Self.jobRequest(p), ctx).report() }
        router.register(ReportJobs.self) { p, ctx in try await self.reports(p, ctx) }
    }

    func hello(_ p: AgentHello.Params, _ ctx: RPCContext) async throws -> AgentHello.Result {
        let c = self.coordinator
        let owner = LeaseOwner(agentId: p.agentId, coordinatorId: c.configuration.coordinatorID, connectionId: ctx.connectionID)
            .description
        self.sessions.begin(
            AgentSession(
                agentId: p.agentId, capacity: p.capacity, version: p.version, connectionID: ctx.connectionID,
                peer: ctx.peer, leaseOwner: owner, connectedAt: Date()))
        let settings = try await c.settings()
        let adopted = try await c.db {
            try await c.store.adoptLeases(p.leases ?? [], owner: owner, leaseSeconds: settings.leaseSeconds)
        }
        ctx.logger.info(
            "agent connected",
            metadata: [
                "agent.id": "\(p.agentId)", "capacity": "\(p.capacity)",
                "leases.held": "\(p.leases?.count ?? 0)", "leases.adopted": "\(adopted.count)",
            ])
        await self.sessions.announceChange()
        return AgentHello.Result(
            coordinatorVersion: c.configuration.version, leaseSeconds: settings.leaseSeconds, adoptedLeases: adopted)
    }

    /// `jobs.lease`: a long poll. Looks for jobs (with every other agent's lease calls, in one
    /// transaction), and while there are none waits for a wake-up, the fallback poll, or the end
    /// of the caller's input.
    func lease(_ p: LeaseJobs.Params, _ ctx: RPCContext) async throws -> LeaseJobs.Result {
        let c = self.coordinator
        let session = try self.sessions.session(ctx)
        let wait = min(Duration.milliseconds(max(0, p.waitMs ?? 0)), c.configuration.maximumLeaseWait)
        let deadline = c.clock.now() + wait
        let dial = p.dial ?? false
        let request = LeaseRequest(owner: session.leaseOwner, max: p.max, dial: dial)
        while true {
            let generation = c.signal.generation
            // A client that went away gets nothing more: above all no DIALING job, which nobody
            // would call and which would end `outcome_unknown` (a CLAIMED one would come back).
            if c.signal.hasEnded(ctx.connectionID) { return LeaseJobs.Result(jobs: [], refused: dial ? [] : nil) }
            let answer = try await c.db { try await c.leases.submit(request) }
            let now = c.clock.now()
            if !answer.jobs.isEmpty || !answer.refused.isEmpty || now >= deadline || c.signal.hasEnded(ctx.connectionID) {
                if !answer.jobs.isEmpty {
                    ctx.logger.trace("leased", metadata: ["agent.id": "\(session.agentId)", "jobs": "\(answer.jobs.count)"])
                }
                return LeaseJobs.Result(jobs: answer.jobs, refused: dial ? answer.refused : nil)
            }
            var timeout = min(deadline - now, c.configuration.fallbackPoll)
            if let ms = answer.retryAfterMs {
                // Held back by a provider limit: a call that ends (a report) or the window moving on frees it.
                c.providerLimited.withLockedValue { $0 = true }
                timeout = min(timeout, .milliseconds(ms))
            }
            await c.signal.wait(after: generation, connectionID: ctx.connectionID, timeout: timeout)
        }
    }

    /// A `jobs.complete` as a store request (its params were validated by the router, or by
    /// `JobReport.validate()` for a report of `jobs.report`).
    static func jobRequest(_ p: CompleteJob.Params) -> JobRequest {
        JobRequest(jobId: p.jobId, leaseToken: p.leaseToken, kind: .complete(outcome: p.outcome), call: p.call, agent: "")
    }

    /// A `jobs.fail` as a store request.
    static func jobRequest(_ p: FailJob.Params) -> JobRequest {
        JobRequest(
            jobId: p.jobId, leaseToken: p.leaseToken,
            kind: p.notPlaced == true
                ? .notPlaced(error: p.error)
                : .fail(retryable: p.retryable, error: p.error, outcome: p.outcome, outcomeUnknown: p.outcomeUnknown ?? false),
            call: p.call, agent: "")
    }

    /// A `jobs.skip` as a store request.
    static func jobRequest(_ p: SkipJob.Params) -> JobRequest {
        JobRequest(jobId: p.jobId, leaseToken: p.leaseToken, kind: .skip(reason: p.reason), agent: "")
    }

    /// One report of `jobs.report` as a store request, checked as its method checks it.
    static func jobRequest(_ r: JobReport) throws -> JobRequest {
        try r.validate()
        if let c = r.complete { return Self.jobRequest(c) }
        if let f = r.fail { return Self.jobRequest(f) }
        return Self.jobRequest(r.skip!)
    }

    /// `jobs.report`: every report that passes its method's checks goes to the batcher at once
    /// (one group commit unless the batch is full); each answers as its own method would. When a
    /// batch's transaction fails, the whole request fails like a single report would, and the
    /// agent resends it: the reports that did land answer `replayed: true`.
    func reports(_ p: ReportJobs.Params, _ ctx: RPCContext) async throws -> ReportJobs.Result {
        let session = try self.sessions.session(ctx)
        var answers = [JobReportAnswer?](repeating: nil, count: p.reports.count)
        var requests: [(index: Int, request: JobRequest)] = []
        for (i, report) in p.reports.enumerated() {
            do {
                var request = try Self.jobRequest(report)
                request.agent = session.agentId
                requests.append((i, request))
            } catch let error as RPCError {
                answers[i] = JobReportAnswer(error: error)
            }
        }
        let outcomes = await self.coordinator.batcher.submitAll(requests.map(\.request))
        let settled = try await self.coordinator.db { try outcomes.map { try $0.get() } }
        for ((i, request), outcome) in zip(requests, settled) {
            do {
                answers[i] = JobReportAnswer(result: try self.answer(outcome, to: request, ctx).report())
            } catch let error as RPCError {
                answers[i] = JobReportAnswer(error: error)
            }
        }
        return ReportJobs.Result(results: answers.map { $0! })
    }

    func agentRequest(_ request: JobRequest, _ ctx: RPCContext) async throws -> JobRequestOutcome {
        let session = try self.sessions.session(ctx)
        var request = request
        request.agent = session.agentId
        let outcome = try await self.coordinator.db { try await self.coordinator.batcher.submit(request) }
        return try self.answer(outcome, to: request, ctx)
    }

    /// What a report or dialing check answers, from the store's outcome: errors for refusals,
    /// and the bookkeeping of a report that changed a job (waking leasers, the session's count).
    func answer(_ outcome: JobRequestOutcome, to request: JobRequest, _ ctx: RPCContext) throws -> JobRequestOutcome {
        switch outcome {
        case .notFound:
            throw RPCError(.notFound, "no job \(request.jobId)")
        case .rejected(.leaseLost, let status):
            throw RPCError(.leaseLost, "lease lost: the job's lease token has changed", details: ["status": .string(status.rawValue)])
        case .rejected(.invalidState, let status):
            throw RPCError(
                .invalidState, "not allowed while the job is \(status.rawValue)",
                details: ["status": .string(status.rawValue)])
        case .report(let r):
            let limited = !r.replayed && self.coordinator.providerLimited.withLockedValue { l in defer { l = false }; return l }
            if (r.status == .queued && !r.replayed) || limited { self.coordinator.wakeLeasers() }
            if !r.replayed { self.sessions.countReport(ctx.connectionID) }
            return outcome
        case .dialing:
            return outcome
        }
    }
}

extension JobRequestOutcome {
    func report() throws -> ReportResult {
        guard case .report(let r) = self else { throw RPCError(.internalError, "internal error") }
        return r
    }
    func dialing() throws -> DialingJob.Result {
        guard case .dialing(let d) = self else { throw RPCError(.internalError, "internal error") }
        return d
    }
}
