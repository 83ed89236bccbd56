import CampaignCore
import CampaignProtocol
import CampaignRPC
import CampaignStore
import Foundation
import Logging
import NIOConcurrencyHelpers

/// The coordinator's configuration. Only the executable reads flags and the environment.
public struct CoordinatorConfiguration: Sendable {
    /// Names this coordinator in lease owners (`<agent>@<coordinatorID>#<connection>`).
    public var coordinatorID: String
    /// Version reported by `health` and `agent.hello`.
    public var version: String
    /// How long a `jobs.lease` long poll may wait at most, whatever the client asks.
    public var maximumLeaseWait: Duration
    /// Idle long polls re-check the database this often even without a wake-up (due retries).
    public var fallbackPoll: Duration
    /// How often settings are re-read from the database (another coordinator may change them).
    public var settingsRefresh: Duration
    /// Most items per bulk call (`customers.upsert`, `jobs.enqueue`).
    public var maximumBulkItems: Int
    /// Who may call what.
    public var access: AccessPolicy
    /// This process's uid (the `self` subject of the access rules).
    public var ownUID: UInt32

    public init(
        coordinatorID: String, version: String, maximumLeaseWait: Duration = .seconds(60),
        fallbackPoll: Duration = .seconds(2), settingsRefresh: Duration = .seconds(5), maximumBulkItems: Int = 10_000,
        access: AccessPolicy = .default, ownUID: UInt32 = getuid()
    ) {
        self.access = access
        self.ownUID = ownUID
        self.coordinatorID = coordinatorID
        self.version = version
        self.maximumLeaseWait = maximumLeaseWait
        self.fallbackPoll = fallbackPoll
        self.settingsRefresh = settingsRefresh
        self.maximumBulkItems = maximumBulkItems
    }
}

/// An agent connected to this coordinator.
public struct AgentSession: Sendable, Equatable {
    public var agentId: String
    public var capacity: Int
    public var version: String
    public var connectionID: UInt64
    public var peer: PeerCredentials?
    /// The `lease_owner` of every lease taken on this connection.
    public var leaseOwner: String
    public var connectedAt: Date
    /// Reports accepted on this connection.
    public var reports = 0
}

/// What the coordinator knows of a connection from the moment it opens.
struct ConnectionInfo: Sendable {
    var role: AccessRole?
    var peer: PeerCredentials?
}

/// The method handlers: decode → check → store → answer. Owns the agent sessions and the
/// long-poll signal; PostgreSQL owns everything else.
public final class Coordinator: RPCConnectionObserver, Sendable {
    public let configuration: CoordinatorConfiguration
    public let store: PostgresJobStore
    public let signal = LeaseSignal()
    private let logger: Logger
    private let startedAt = ContinuousClock.now
    private let sessions = NIOLockedValueBox<[UInt64: AgentSession]>([:])
    private let connections = NIOLockedValueBox<[UInt64: ConnectionInfo]>([:])
    private let settingsCache: SettingsCache
    /// Last known database state, for `health` and STATUS=.
    public let databaseUp = NIOLockedValueBox(true)
    /// Called when an agent connects or disconnects (the executable refreshes `STATUS=` with it).
    public let agentsChanged = NIOLockedValueBox<(@Sendable () async -> Void)?>(nil)
    /// True while this coordinator holds the maintenance leader lock (see ``ControlService``).
    public let isLeader = NIOLockedValueBox(false)
    private let timezones = NIOLockedValueBox<Set<String>?>(nil)
    /// Coalesces agent reports and dialing checks into one transaction per batch.
    private let batcher: RequestBatcher<JobRequest, JobRequestOutcome>
    /// Coalesces the `jobs.lease` calls of every agent into one transaction per batch.
    private let leases: RequestBatcher<LeaseRequest, LeaseAnswer>
    /// Set while a lease waits on a provider limit: reports (which end calls) then wake it.
    private let providerLimited = NIOLockedValueBox(false)

    public init(configuration: CoordinatorConfiguration, store: PostgresJobStore, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        let settings = SettingsCache(store: store, refresh: configuration.settingsRefresh)
        self.settingsCache = settings
        // Reports and dialing checks: two batches at once (batches with dialing checks in them
        // still take turns on the dial-limits lock). Leases: one, as a lease with dial takes that
        // lock for its whole transaction.
        self.batcher = RequestBatcher(concurrency: 2) { requests in
            // The settings of the moment, read (cached) when the batch is written.
            let s = try await settings.get()
            return try await store.apply(requests, retry: s.retryPolicy, rules: s.dialRules)
        }
        self.leases = RequestBatcher { requests in
            let s = try await settings.get()
            return try await store.lease(requests, leaseSeconds: s.leaseSeconds, rules: s.dialRules)
        }
    }

    /// How many requests each group commit of reports carried, most recent last (for tests and benchmarks).
    public var batchSizes: [Int] { self.batcher.batchSizes.withLockedValue { $0 } }

    /// Builds the dispatch table.
    public func makeRouter() -> RPCRouter {
        let router = RPCRouter(observer: self)
        // Every method checks the caller's role first (DESIGN §6).
        struct Guarded {
            let router: RPCRouter
            let coordinator: Coordinator
            func register<M: RPCMethod>(
                _ method: M.Type, _ body: @escaping @Sendable (M.Params, RPCContext) async throws -> M.Result
            ) {
                let coordinator = self.coordinator
                self.router.register(method, authorize: { ctx in try coordinator.authorize(M.self, ctx) }, body)
            }
        }
        let r = Guarded(router: router, coordinator: self)
        r.register(ListAgents.self) { _, _ in try await self.listAgents() }
        r.register(RPCDiscover.self) { _, _ in RPCDiscover.document }
        r.register(Health.self) { _, _ in try await self.health() }
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
        r.register(EnqueueJobs.self) { p, _ in try await self.enqueue(p) }
        r.register(ListJobs.self) { p, _ in
            if let c = p.cursor, Int64(c) == nil { throw RPCError(.invalidParams, "invalid params: bad cursor") }
            for (name, value) in [("updatedSince", p.updatedSince), ("updatedBefore", p.updatedBefore)] {
                if let value, Timestamp.parse(value) == nil {
                    throw RPCError(.validationFailed, "\(name) must be an RFC 3339 timestamp with a timezone")
                }
            }
            if let r = p.reason, r.isEmpty || r.utf8.count > 200 { throw RPCError(.validationFailed, "reason must be 1…200 bytes") }
            return try await self.db { try await self.store.listJobs(p) }
        }
        r.register(GetJob.self) { p, _ in
            guard (p.id == nil) != (p.queueJobId == nil) else {
                throw RPCError(.invalidParams, "invalid params: give exactly one of id and queueJobId")
            }
            guard let found = try await self.db({ try await self.store.getJob(id: p.id, queueJobId: p.queueJobId) })
            else { throw RPCError(.notFound, "no such job") }
            return found
        }
        r.register(TallyJobs.self) { _, _ in try await self.db { try await self.store.tally() } }
        r.register(RetryJobs.self) { p, ctx in
            guard (1...100).contains(p.attempts ?? 1) else { throw RPCError(.validationFailed, "attempts must be 1…100") }
            return try await self.adminChange(.retryRequested, ids: p.ids, retryBudget: p.attempts ?? 1, ctx)
        }
        r.register(CancelJobs.self) { p, ctx in try await self.adminChange(.cancelRequested, ids: p.ids, retryBudget: 1, ctx) }
        r.register(UpsertCustomers.self) { p, _ in try await self.upsertCustomers(p) }
        r.register(GetCustomer.self) { p, _ in
            guard (p.id == nil) != (p.externalRef == nil) else {
                throw RPCError(.invalidParams, "invalid params: give exactly one of id and externalRef")
            }
            guard let c = try await self.db({ try await self.store.getCustomer(id: p.id, externalRef: p.externalRef) })
            else { throw RPCError(.notFound, "no such customer") }
            return c
        }
        r.register(ListCustomers.self) { p, _ in
            if let c = p.cursor, Int64(c) == nil { throw RPCError(.invalidParams, "invalid params: bad cursor") }
            return try await self.db { try await self.store.listCustomers(p) }
        }
        r.register(GetAutomation.self) { _, _ in try await self.settings(fresh: true) }
        r.register(SetAutomation.self) { p, ctx in try await self.setAutomation(p, ctx) }
        r.register(RunAutomation.self) { p, ctx in try await self.runAutomation(dryRun: p.dryRun ?? false, by: ctx) }
        return router
    }

    // MARK: Sessions

    public var connectedAgents: [AgentSession] {
        self.sessions.withLockedValue { Array($0.values) }.sorted { $0.connectionID < $1.connectionID }
    }

    public func connectionOpened(_ context: RPCContext) async {
        let peer = context.peer.map(PeerIdentity.resolve)
        let role = self.configuration.access.role(of: peer, ownUID: self.configuration.ownUID)
        self.connections.withLockedValue { $0[context.connectionID] = ConnectionInfo(role: role, peer: context.peer) }
        context.logger.debug(
            "connection opened",
            metadata: [
                "peer.uid": "\(context.peer.map { String($0.uid) } ?? "?")",
                "peer.pid": "\(context.peer.map { String($0.pid) } ?? "?")", "role": "\(role?.rawValue ?? "none")",
            ])
    }

    /// Refuses a method the connection's role does not allow (FORBIDDEN).
    func authorize<M: RPCMethod>(_ method: M.Type, _ ctx: RPCContext) throws {
        let role = self.connections.withLockedValue { $0[ctx.connectionID]?.role }
        guard let role, role >= M.requiredRole else {
            let who = ctx.peer.map { "uid \($0.uid)" } ?? "an unidentified peer"
            throw RPCError(
                .forbidden, "\(M.name) needs the \(M.requiredRole.rawValue) role; \(who) has \(role?.rawValue ?? "none")",
                details: ["required": .string(M.requiredRole.rawValue), "role": role.map { .string($0.rawValue) } ?? .null])
        }
    }

    func listAgents() async throws -> ListAgents.Result {
        let sessions = self.connectedAgents
        let held = try await self.db { try await self.store.leasesHeld(owners: sessions.map(\.leaseOwner)) }
        let roles = self.connections.withLockedValue { $0 }
        return ListAgents.Result(
            coordinator: self.configuration.coordinatorID,
            agents: sessions.map { s in
                AgentView(
                    agentId: s.agentId, version: s.version, capacity: s.capacity, connectionId: Int64(s.connectionID),
                    connectedAt: Timestamp.string(s.connectedAt), pid: s.peer?.pid, uid: s.peer?.uid, gid: s.peer?.gid,
                    unit: s.peer.flatMap { PeerIdentity.unit(pid: $0.pid) },
                    role: roles[s.connectionID]?.role ?? .reader, leasesHeld: held[s.leaseOwner] ?? 0, reports: s.reports)
            })
    }

    public func connectionInputEnded(_ context: RPCContext) async {
        self.signal.connectionInputEnded(context.connectionID)
    }

    public func connectionClosed(_ context: RPCContext) async {
        self.signal.connectionClosed(context.connectionID)
        self.connections.withLockedValue { _ = $0.removeValue(forKey: context.connectionID) }
        guard let session = self.sessions.withLockedValue({ $0.removeValue(forKey: context.connectionID) }) else {
            return
        }
        await self.agentsChanged.withLockedValue({ $0 })?()
        do {
            let released = try await self.store.releaseClaimed(owner: session.leaseOwner)
            context.logger.info(
                "agent disconnected", metadata: ["agent.id": "\(session.agentId)", "released": "\(released.count)"])
            if !released.isEmpty { self.wakeLeasers() }
        } catch {
            // The leases expire on their own; the sweep returns them to the queue.
            context.logger.warning(
                "agent disconnected; releasing its claimed jobs failed, they return at lease expiry",
                metadata: ["agent.id": "\(session.agentId)", "error": "\(error)"])
        }
    }

    // MARK: Handlers

    func health() async throws -> Health.Result {
        let uptime = Int((ContinuousClock.now - self.startedAt).components.seconds)
        let agents = self.sessions.withLockedValue { $0.count }
        do {
            let timezone = (try? await self.settingsCache.get())?.timezone ?? "UTC"
            let counts = try await self.store.counts(timezone: timezone)
            self.databaseUp.withLockedValue { $0 = true }
            return Health.Result(
                version: self.configuration.version, uptimeSeconds: uptime, database: "up",
                leader: self.isLeader.withLockedValue { $0 },
                agents: agents, queue: counts.queue, completedToday: counts.completedToday)
        } catch {
            // Health answers even when the database is down: that is what an operator wants to see.
            self.databaseUp.withLockedValue { $0 = false }
            return Health.Result(
                version: self.configuration.version, uptimeSeconds: uptime, database: "down", leader: false,
                agents: agents, queue: QueueCounts(), completedToday: 0)
        }
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

    /// `<anything>:<YYYY-MM-DD>`: the form of automatic jobs' queue ids (automation.run).
    static func isAutomaticQueueJobID(_ q: String) -> Bool {
        let tail = q.utf8.suffix(11)
        guard tail.count == 11, q.utf8.count > 11 else { return false }
        let t = Array(tail)
        let digits = [1, 2, 3, 4, 6, 7, 9, 10]
        return t[0] == UInt8(ascii: ":") && t[5] == UInt8(ascii: "-") && t[8] == UInt8(ascii: "-")
            && digits.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(t[$0]) }
    }

    static func isValidAgentID(_ id: String) -> Bool {
        (1...64).contains(id.count)
            && id.unicodeScalars.allSatisfy {
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._@:-".unicodeScalars.contains($0)
            }
    }

    private func session(_ ctx: RPCContext) throws -> AgentSession {
        guard let s = self.sessions.withLockedValue({ $0[ctx.connectionID] }) else {
            throw RPCError(.invalidState, "call agent.hello first on this connection")
        }
        return s
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

    // MARK: Reports

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

    func adminChange(
        _ event: JobStateMachine.Event, ids: [Int64], retryBudget: Int, _ ctx: RPCContext
    ) async throws -> AdminChangeResult {
        guard (1...1000).contains(ids.count) else { throw RPCError(.validationFailed, "give 1…1000 job ids") }
        let outcomes = try await self.db { try await self.store.admin(event, ids: ids, retryBudget: retryBudget) }
        var changed: [Int64] = []
        var rejected: [JobRefusal] = []
        for id in ids {
            switch outcomes[id] {
            case .changed?: changed.append(id)
            case .rejected(let status)?: rejected.append(JobRefusal(id: id, status: status, code: RPCErrorCode.invalidState.name))
            case .notFound?, nil: rejected.append(JobRefusal(id: id, status: nil, code: RPCErrorCode.notFound.name))
            }
        }
        let verb = event == .retryRequested ? "retried" : "cancelled"
        ctx.logger.notice(
            "jobs \(verb) by an admin",
            metadata: ["jobs": "\(changed.count)", "by": "\(ctx.peer.map { "uid:\($0.uid)" } ?? "unknown")"])
        if event == .retryRequested && !changed.isEmpty { self.wakeLeasers() }
        return AdminChangeResult(changed: changed, rejected: rejected)
    }

    /// New work may be due: wake this coordinator's long polls. (The store's writes that make
    /// jobs due also NOTIFY the other coordinators, in the same transaction.)
    func wakeLeasers() {
        self.signal.notifyAll()
    }

    func enqueue(_ p: EnqueueJobs.Params) async throws -> EnqueueJobs.Result {
        guard p.jobs.count <= self.configuration.maximumBulkItems else {
            throw RPCError(
                .limitExceeded, "at most \(self.configuration.maximumBulkItems) jobs per call",
                details: ["limit": "bulkItems", "maximum": .int(Int64(self.configuration.maximumBulkItems))])
        }
        var rejected: [ItemError] = []
        var accepted: [(index: Int, item: EnqueueItem)] = []
        for (i, var item) in p.jobs.enumerated() {
            let ref = item.customerRef ?? item.customerId.map { String($0) }
            if (item.customerId == nil) == (item.customerRef == nil) {
                rejected.append(ItemError(index: i, ref: ref, reason: "give exactly one of customerId and customerRef"))
                continue
            }
            if let m = item.maxAttempts, !(1...100).contains(m) {
                rejected.append(ItemError(index: i, ref: ref, reason: "maxAttempts must be 1…100"))
                continue
            }
            if let t = item.runAt, Timestamp.parse(t) == nil {
                rejected.append(ItemError(index: i, ref: ref, reason: "runAt must be an RFC 3339 time"))
                continue
            }
            if let q = item.queueJobId, q.isEmpty || q.utf8.count > 200 {
                rejected.append(ItemError(index: i, ref: ref, reason: "queueJobId must be 1…200 bytes"))
                continue
            }
            if let q = item.queueJobId, Self.isAutomaticQueueJobID(q) {
                rejected.append(ItemError(
                    index: i, ref: ref, reason: "queueJobId of the form <ref>:<YYYY-MM-DD> is reserved for automatic jobs"))
                continue
            }
            if item.queueJobId == nil { item.queueJobId = "manual:" + UUID().uuidString.lowercased() }
            accepted.append((i, item))
        }
        let settings = try await self.settings()
        let rows = try await self.db {
            try await self.store.enqueue(accepted.map(\.item), defaultMaxAttempts: settings.maxAttempts)
        }
        var jobIds = [Int64?](repeating: nil, count: p.jobs.count)
        var enqueued = 0
        var existing = 0
        for row in rows {
            let original = accepted[row.index]
            guard row.customerFound, let jobId = row.jobId else {
                rejected.append(ItemError(
                    index: original.index, ref: original.item.customerRef ?? original.item.customerId.map { String($0) },
                    reason: "unknown customer"))
                continue
            }
            jobIds[original.index] = jobId
            if row.created { enqueued += 1 } else { existing += 1 }
        }
        if enqueued > 0 { self.wakeLeasers() }
        return EnqueueJobs.Result(
            enqueued: enqueued, existing: existing, rejected: rejected.sorted { $0.index < $1.index }, jobIds: jobIds)
    }

    func upsertCustomers(_ p: UpsertCustomers.Params) async throws -> UpsertCustomers.Result {
        guard p.customers.count <= self.configuration.maximumBulkItems else {
            throw RPCError(
                .limitExceeded, "at most \(self.configuration.maximumBulkItems) customers per call",
                details: ["limit": "bulkItems", "maximum": .int(Int64(self.configuration.maximumBulkItems))])
        }
        var rejected: [ItemError] = []
        var valid: [ValidCustomer] = []
        var seen = Set<String>()
        let zones = try await self.knownTimezones()
        for (i, c) in p.customers.enumerated() {
            switch CustomerValidation.validate(c, knownTimezones: zones) {
            case .failure(let reason):
                rejected.append(ItemError(index: i, ref: c.externalRef, reason: reason.message))
            case .success(let v):
                // A second row with the same ref in one call would be ambiguous: the first wins.
                guard seen.insert(v.externalRef).inserted else {
                    rejected.append(ItemError(index: i, ref: c.externalRef, reason: "duplicate externalRef in this call"))
                    continue
                }
                valid.append(v)
            }
        }
        let (inserted, updated) = try await self.db { try await self.store.upsertCustomers(valid) }
        return UpsertCustomers.Result(inserted: inserted, updated: updated, rejected: rejected)
    }

    func setAutomation(_ p: SetAutomation.Params, _ ctx: RPCContext) async throws -> AutomationSettings {
        let current = try await self.settings(fresh: true)
        let next: AutomationSettings
        do {
            next = try current.applying(p.values)
        } catch let e as SettingsError {
            throw RPCError(.validationFailed, "invalid settings: \(e.message)", details: ["problems": [.string(e.message)]])
        }
        let zones = try await self.knownTimezones()
        let problems = next.problems(knownTimezone: { zones.contains($0) })
        guard problems.isEmpty else {
            throw RPCError(
                .validationFailed, "invalid settings: " + problems.joined(separator: "; "),
                details: ["problems": .array(problems.map { .string($0) })])
        }
        let by = ctx.peer.map { "uid:\($0.uid)" } ?? "unknown"
        try await self.db { try await self.store.writeSettings(next, by: by) }
        self.settingsCache.set(next)
        ctx.logger.info("automation settings changed", metadata: ["by": "\(by)"])
        return next
    }

    /// `automation.run`: refused while automation is disabled, unless it is a dry run.
    public func runAutomation(dryRun: Bool, by ctx: RPCContext?) async throws -> RunAutomation.Result {
        let s = try await self.settings(fresh: true)
        guard s.enabled || dryRun else {
            throw RPCError(.automationDisabled, "automation is disabled: enable it first (or use a dry run)")
        }
        let c = try await self.db { try await self.store.automationRun(s, dryRun: dryRun) }
        var leftOut = c.byReason
        leftOut[EligibilityPolicy.Reason.dailyCap.rawValue] = c.eligible - c.picked
        let result = RunAutomation.Result(
            considered: c.byReason.values.reduce(c.eligible, +), enqueued: c.enqueued, eligible: c.picked,
            leftOut: leftOut, date: c.date, capRemaining: c.capRemaining, dryRun: dryRun)
        (ctx?.logger ?? self.logger).info(
            "automation run", metadata: [
                "dry.run": "\(dryRun)", "considered": "\(result.considered)", "enqueued": "\(result.enqueued)",
                "date": "\(result.date)",
            ])
        if c.enqueued > 0 { self.wakeLeasers() }
        return result
    }

    /// IANA names both Foundation and this PostgreSQL know (read once: a tz change needs a restart).
    ///
    /// Foundation is asked name by name (`TimeZone(identifier:)`), not through its list of known
    /// identifiers: on Linux that list lacks current names it does resolve, such as Asia/Kolkata.
    func knownTimezones() async throws -> Set<String> {
        if let z = self.timezones.withLockedValue({ $0 }) { return z }
        let pg = try await self.db { try await self.store.timezoneNames() }
        let known = pg.filter { TimeZone(identifier: $0) != nil }
        self.timezones.withLockedValue { $0 = known }
        return known
    }

    /// The settings, re-read from the database at most every `settingsRefresh`.
    public func settings(fresh: Bool = false) async throws -> AutomationSettings {
        try await self.db { try await self.settingsCache.get(fresh: fresh) }
    }

    /// Runs a store call, turning database failures into wire errors (and logging the details).
    func db<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        do {
            let value = try await body()
            self.databaseUp.withLockedValue { $0 = true }
            return value
        } catch let error as StoreError {
            if error.isTransient {
                // Still deadlocked or conflicting after the pool's retries: the client may retry.
                self.logger.warning("database contention", metadata: ["error": "\(error)"])
                throw RPCError(.databaseUnavailable, "database busy, retry later")
            }
            if error.isUnavailable {
                self.databaseUp.withLockedValue { $0 = false }
                self.logger.warning("database unavailable", metadata: ["error": "\(error)"])
                throw RPCError(.databaseUnavailable, "database unavailable, retry later")
            }
            self.logger.error("database error", metadata: ["error": "\(error.debugDescription)"])
            throw RPCError(.internalError, "internal error")
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
