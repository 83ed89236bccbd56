import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

// The agent side: `agent.hello`, `jobs.lease` and the reports (`jobs.dialing`, `jobs.complete`,
// `jobs.fail`, `jobs.skip`, `jobs.report`), each group-committed by a `RequestBatcher`.

extension Coordinator {
    /// Registers the agent methods.
    func registerAgentMethods(on r: GuardedRegistrar) {
        r.register(AgentHello.self) { p, ctx in try await self.hello(p, ctx) }
        r.register(LeaseJobs.self) { p, ctx in try await self.lease(p, ctx) }
        r.register(DialingJob.self) { p, ctx in
            try await self.agentRequest(JobRequest(jobId: p.jobId, leaseToken: p.leaseToken, kind: .dialing, agent: ""), ctx)
                .dialing()
        }
        r.register(CompleteJob.self) { p, ctx in try await self.agentRequest(try Self.jobRequest(p), ctx).report() }
        r.register(FailJob.self) { p, ctx in try await self.agentRequest(try Self.jobRequest(p), ctx).report() }
        r.register(SkipJob.self) { p, ctx in try await self.agentRequest(try Self.jobRequest(p), ctx).report() }
        r.register(ReportJobs.self) { p, ctx in try await self.reports(p, ctx) }
    }

    func hello(_ p: AgentHello.Params, _ ctx: RPCContext) async throws -> AgentHello.Result {
        guard Self.isValidAgentID(p.agentId) else {
            throw RPCError(.validationFailed, "agentId must be 1…64 characters of [A-Za-z0-9._@:-]")
        }
        guard (1...1000).contains(p.capacity) else { throw RPCError(.validationFailed, "capacity must be 1…1000") }
        let owner = LeaseOwner(agentId: p.agentId, coordinatorId: self.configuration.coordinatorID, connectionId: ctx.connectionID)
            .description
        let session = AgentSession(
            agentId: p.agentId, capacity: p.capacity, version: p.version, connectionID: ctx.connectionID,
            peer: ctx.peer, leaseOwner: owner, connectedAt: Date())
        guard (p.leases?.count ?? 0) <= 1000 else { throw RPCError(.validationFailed, "at most 1000 held leases") }
        self.sessions.withLockedValue { $0[ctx.connectionID] = session }
        let settings = try await self.settings()
        let adopted = try await self.db {
            try await self.store.adoptLeases(p.leases ?? [], owner: owner, leaseSeconds: settings.leaseSeconds)
        }
        ctx.logger.info(
            "agent connected",
            metadata: [
                "agent.id": "\(p.agentId)", "capacity": "\(p.capacity)",
                "leases.held": "\(p.leases?.count ?? 0)", "leases.adopted": "\(adopted.count)",
            ])
        await self.agentsChanged.withLockedValue({ $0 })?()
        return AgentHello.Result(
            coordinatorVersion: self.configuration.version, leaseSeconds: settings.leaseSeconds, adoptedLeases: adopted)
    }

    static func isValidAgentID(_ id: String) -> Bool {
        (1...64).contains(id.count)
            && id.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._@:-".unicodeScalars.contains($0)
            }
    }

    func lease(_ p: LeaseJobs.Params, _ ctx: RPCContext) async throws -> LeaseJobs.Result {
        let session = try self.session(ctx)
        guard (1...1000).contains(p.max) else { throw RPCError(.validationFailed, "max must be 1…1000") }
        let wait = min(Duration.milliseconds(max(0, p.waitMs ?? 0)), self.configuration.maximumLeaseWait)
        let deadline = ContinuousClock.now + wait
        let dial = p.dial ?? false
        let request = LeaseRequest(owner: session.leaseOwner, max: p.max, dial: dial)
        while true {
            let generation = self.signal.generation
            // A client that went away gets nothing more: above all no DIALING job, which nobody
            // would call and which would end `outcome_unknown` (a CLAIMED one would come back).
            if self.signal.hasEnded(ctx.connectionID) { return LeaseJobs.Result(jobs: [], refused: dial ? [] : nil) }
            let answer = try await self.db { try await self.leases.submit(request) }
            let now = ContinuousClock.now
            if !answer.jobs.isEmpty || !answer.refused.isEmpty || now >= deadline || self.signal.hasEnded(ctx.connectionID) {
                if !answer.jobs.isEmpty {
                    ctx.logger.trace("leased", metadata: ["agent.id": "\(session.agentId)", "jobs": "\(answer.jobs.count)"])
                }
                return LeaseJobs.Result(jobs: answer.jobs, refused: dial ? answer.refused : nil)
            }
            var timeout = min(deadline - now, self.configuration.fallbackPoll)
            if let ms = answer.retryAfterMs {
                // Held back by a provider limit: a call that ends (a report) or the window moving on frees it.
                self.providerLimited.withLockedValue { $0 = true }
                timeout = min(timeout, .milliseconds(ms))
            }
            await self.signal.wait(after: generation, connectionID: ctx.connectionID, timeout: timeout)
        }
    }

    /// A `jobs.complete` as a store request, checked as the method checks it.
    static func jobRequest(_ p: CompleteJob.Params) throws -> JobRequest {
        if let call = p.call, let problem = CallRecordValidation.problem(call) {
            throw RPCError(.validationFailed, problem)
        }
        return JobRequest(jobId: p.jobId, leaseToken: p.leaseToken, kind: .complete(outcome: p.outcome), call: p.call, agent: "")
    }

    /// A `jobs.fail` as a store request, checked as the method checks it.
    static func jobRequest(_ p: FailJob.Params) throws -> JobRequest {
        guard !p.error.isEmpty, p.error.utf8.count <= 2000 else {
            throw RPCError(.validationFailed, "error must be 1…2000 bytes")
        }
        if let call = p.call, let problem = CallRecordValidation.problem(call) {
            throw RPCError(.validationFailed, problem)
        }
        return JobRequest(
            jobId: p.jobId, leaseToken: p.leaseToken,
            kind: .fail(retryable: p.retryable, error: p.error, outcome: p.outcome, outcomeUnknown: p.outcomeUnknown ?? false),
            call: p.call, agent: "")
    }

    /// A `jobs.skip` as a store request, checked as the method checks it.
    static func jobRequest(_ p: SkipJob.Params) throws -> JobRequest {
        guard !p.reason.isEmpty, p.reason.utf8.count <= 200 else {
            throw RPCError(.validationFailed, "reason must be 1…200 bytes")
        }
        return JobRequest(jobId: p.jobId, leaseToken: p.leaseToken, kind: .skip(reason: p.reason), agent: "")
    }

    /// One report of `jobs.report` as a store request.
    static func jobRequest(_ r: JobReport) throws -> JobRequest {
        switch (r.complete, r.fail, r.skip) {
        case (let c?, nil, nil): return try Self.jobRequest(c)
        case (nil, let f?, nil): return try Self.jobRequest(f)
        case (nil, nil, let k?): return try Self.jobRequest(k)
        default: throw RPCError(.validationFailed, "a report has exactly one of complete, fail, skip")
        }
    }

    /// `jobs.report`: every report that passes its method's checks goes to the batcher at once
    /// (one group commit unless the batch is full); each answers as its own method would. When a
    /// batch's transaction fails, the whole request fails like a single report would, and the
    /// agent resends it: the reports that did land answer `replayed: true`.
    func reports(_ p: ReportJobs.Params, _ ctx: RPCContext) async throws -> ReportJobs.Result {
        guard (1...ReportJobs.maximumReports).contains(p.reports.count) else {
            throw RPCError(.validationFailed, "give 1…\(ReportJobs.maximumReports) reports")
        }
        let session = try self.session(ctx)
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
        let outcomes = await self.batcher.submitAll(requests.map(\.request))
        let settled = try await self.db { try outcomes.map { try $0.get() } }
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
        let session = try self.session(ctx)
        var request = request
        request.agent = session.agentId
        let outcome = try await self.db { try await self.batcher.submit(request) }
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
            let limited = !r.replayed && self.providerLimited.withLockedValue { l in defer { l = false }; return l }
            if (r.status == .queued && !r.replayed) || limited { self.wakeLeasers() }
            if !r.replayed { self.sessions.withLockedValue { $0[ctx.connectionID]?.reports += 1 } }
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
