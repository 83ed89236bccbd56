import CampaignCore
import CampaignProtocol
import CampaignRPC
import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SystemdNotify

/// The agent's work loop: lease up to capacity → pre-dial check → place the call → report.
///
/// Calls run independently of the coordinator connection: a call in progress is never cut
/// short because the link dropped, and its report is resent once the link is back (reports
/// are idempotent on the coordinator). On graceful shutdown the agent stops leasing, finishes
/// the calls it is on, reports them, then returns.
public final class AgentRunner: Service, Sendable {
    public struct Configuration: Sendable {
        /// Calls at once.
        public var capacity: Int
        /// How long one `jobs.lease` long poll may wait.
        public var leaseWait: Duration
        /// Hard limit of one call; past it the call is abandoned and reported FAILED.
        public var callHardLimit: Duration
        /// Which outcomes complete, retry or fail a job.
        public var outcomePolicy: OutcomePolicy
        /// How long, after shutdown began, undelivered reports keep being retried.
        public var shutdownReportGrace: Duration
        /// Where undelivered reports wait across restarts (nil: memory only).
        public var spoolDirectory: String?
        /// Lease with the pre-dial check in the same request (`jobs.lease` `dial: true`): one round
        /// trip and one transaction less per call. Off: `jobs.dialing` before each call.
        public var leaseAndDial: Bool
        /// The longest long poll in lease-and-dial mode. Such a poll is not cancelled at shutdown
        /// (what it leases is already DIALING and must be called, not dropped), so shutdown may
        /// wait this long for it.
        public var dialLeaseWait: Duration
        /// While fewer than a quarter of the slots are free, how long the lease loop waits for more
        /// to free up before it asks: a busy agent then leases many jobs per request (and per
        /// database transaction) rather than one job per call that ends. An idle agent, with all
        /// its slots free, asks at once.
        public var leaseGather: Duration = .milliseconds(10)
        /// Reports of ended calls that may wait for the coordinator's answer at once (nil: as
        /// many as `capacity`). A call's slot is given back as soon as the call ended and its
        /// report (spooled first) has a place here, so the next call need not wait for the
        /// report's database commit; when the backlog is full, ended calls keep their slots and
        /// the agent leases nothing new until reports settle.
        public var reportBacklog: Int?
        /// How often the agent asks the coordinator for jobs whose outcome is unknown and looks
        /// them up at the provider (`jobs.reconcile`, issue 16), when its placer can (nil: never).
        public var reconcilePoll: Duration? = .seconds(10)
        /// Most jobs looked up per `jobs.reconcile` (one after the other).
        public var reconcileBatch: Int = 10
        /// Limit of one lookup.
        public var lookupTimeout: Duration = .seconds(30)

        public init(
            capacity: Int, leaseWait: Duration = .seconds(25), callHardLimit: Duration = .seconds(900),
            leaseAndDial: Bool = false, dialLeaseWait: Duration = .seconds(3),
            outcomePolicy: OutcomePolicy = .default, shutdownReportGrace: Duration = .seconds(20),
            spoolDirectory: String? = nil
        ) {
            self.leaseAndDial = leaseAndDial
            self.dialLeaseWait = dialLeaseWait
            self.spoolDirectory = spoolDirectory
            self.capacity = capacity
            self.leaseWait = leaseWait
            self.callHardLimit = callHardLimit
            self.outcomePolicy = outcomePolicy
            self.shutdownReportGrace = shutdownReportGrace
        }
    }

    /// Counters for `STATUS=` and tests.
    public struct Stats: Sendable, Equatable {
        public var onCalls = 0
        public var callsPlaced = 0
        public var reportsDelivered = 0
        public var reportsDropped = 0
        public var skippedBeforeDial = 0
        /// Reports of ended calls whose delivery has not ended yet.
        public var pendingReports = 0
        /// Calls an earlier run left in progress that this one went on following.
        public var callsResumed = 0
    }

    let configuration: Configuration
    let link: CoordinatorLink
    let placer: any Placer
    let logger: Logger
    private let notifier: SystemdNotifier
    public let stats = NIOLockedValueBox(Stats())
    /// The leases this agent holds (from lease to delivered report), for `agent.hello` after a reconnect.
    private let held = NIOLockedValueBox<[Int64: String]>([:])
    let slots: Slots
    /// Places for reports that wait for the coordinator (``Configuration/reportBacklog``).
    let reportRoom: Permits
    /// Keeps every call's hard limit.
    private let watchdog = CallWatchdog<ContinuousClock>()
    private let lastStatus = NIOLockedValueBox("")
    /// When `refreshStatusSoon` last built the summary (it runs twice per call).
    private let lastStatusCheck = NIOLockedValueBox(ContinuousClock.now - .seconds(1))
    let shutdownStarted = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
    let spool: ReportSpool?
    /// Reports travel several per `jobs.report` request when calls end together.
    let reports = ReportSender()
    /// What `GET /metrics` prints (``AgentMetrics/render(_:)``).
    public let metrics: AgentMetrics

    public init(
        configuration: Configuration, link: CoordinatorLink, placer: any Placer, logger: Logger,
        notifier: SystemdNotifier = SystemdNotifier(), metrics: AgentMetrics = AgentMetrics()
    ) throws {
        self.metrics = metrics
        self.spool = try configuration.spoolDirectory.map { try ReportSpool(directory: $0) }
        self.configuration = configuration
        self.link = link
        self.placer = placer
        self.logger = logger
        self.notifier = notifier
        self.slots = Slots(capacity: configuration.capacity)
        self.reportRoom = Permits(max(1, configuration.reportBacklog ?? configuration.capacity))
    }

    public func run() async throws {
        self.refreshStatus()
        // Reports an earlier run could not deliver: their leases are named in agent.hello (the
        // coordinator keeps renewing the current ones) and they are sent like fresh ones.
        let leftOver = self.spool?.pending() ?? []
        if !leftOver.isEmpty { self.logger.notice("delivering \(leftOver.count) report(s) left by an earlier run") }
        self.held.withLockedValue { h in for r in leftOver { h[r.jobId] = r.leaseToken } }
        // Calls the provider had accepted when an earlier run ended: named in agent.hello too, and
        // followed again by polling, without a second POST (their slots are taken first).
        let resumed = self.spool?.pendingCalls() ?? []
        if !resumed.isEmpty { self.logger.notice("following \(resumed.count) call(s) an earlier run left in progress") }
        self.held.withLockedValue { h in for c in resumed { h[c.job.jobId] = c.job.leaseToken } }
        self.slots.borrow(resumed.count)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for report in leftOver {
                    group.addTask {
                        await self.send(report, logger: JobLogger(base: self.logger, jobId: report.jobId))
                        self.held.withLockedValue { _ = $0.removeValue(forKey: report.jobId) }
                    }
                }
                for call in resumed {
                    group.addTask {
                        await self.resume(call)
                        self.held.withLockedValue { _ = $0.removeValue(forKey: call.job.jobId) }
                    }
                }
                if self.placer.canLookUp, let poll = self.configuration.reconcilePoll {
                    group.addTask { await self.reconcileLoop(every: poll) }
                }
                while !Task.isShuttingDownGracefully {
                    var free = await self.slots.acquireAvailable()
                    guard free > 0 else { break }  // closed: shutting down
                    if free < self.configuration.capacity / 4, self.configuration.leaseGather > .zero {
                        try? await Task.sleep(for: self.configuration.leaseGather)
                        free += self.slots.takeAvailable()
                        if Task.isShuttingDownGracefully {
                            self.slots.release(free)
                            break
                        }
                    }
                    guard let client = await self.link.client(waitingUpTo: .seconds(1)) else {
                        self.slots.release(free)
                        self.refreshStatus()
                        continue
                    }
                    self.refreshStatus()  // the link may have just come up: say so before a long poll
                    let jobs: [LeasedJob]
                    do {
                        let dial = self.configuration.leaseAndDial
                        let wait = dial ? min(self.configuration.leaseWait, self.configuration.dialLeaseWait)
                            : self.configuration.leaseWait
                        let params = LeaseJobs.Params(
                            max: free, waitMs: Int(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000),
                            dial: dial ? true : nil)
                        let leased: LeaseJobs.Result
                        if dial {
                            // Not cancelled at shutdown: what it leases is DIALING and gets called.
                            leased = try await client.call(LeaseJobs.self, params)
                        } else {
                            // A long poll must not hold up shutdown: cancel it. Anything leased meanwhile
                            // is CLAIMED only, and returns to the queue when the connection closes.
                            leased = try await cancelWhenGracefulShutdown { try await client.call(LeaseJobs.self, params) }
                        }
                        jobs = leased.jobs
                        if let refused = leased.refused, !refused.isEmpty {
                            self.stats.withLockedValue { $0.skippedBeforeDial += refused.count }
                            self.logger.debug("not calling: refused by a rule", metadata: ["jobs": "\(refused.count)"])
                        }
                    } catch {
                        self.slots.release(free)
                        if !Task.isShuttingDownGracefully {
                            self.logger.warning("lease failed", metadata: ["error": "\(error)"])
                            try? await Task.sleep(for: .milliseconds(500))
                        }
                        continue
                    }
                    self.slots.release(free - jobs.count)
                    self.held.withLockedValue { h in for job in jobs { h[job.jobId] = job.leaseToken } }
                    for job in jobs {
                        group.addTask {
                            let slotGiven = await self.work(job)
                            self.held.withLockedValue { _ = $0.removeValue(forKey: job.jobId) }
                            if !slotGiven { self.slots.release(1) }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            self.shutdownStarted.withLockedValue { $0 = ContinuousClock.now }
            self.notifier.stopping(status: "stopping: no new leases, finishing \(self.stats.withLockedValue { $0.onCalls }) call(s)")
            self.logger.info("stopping: no new leases, finishing calls in progress")
            self.slots.close()
        }
        await self.placer.shutdown()
        self.refreshStatus()
    }

    /// The leases held right now, for `agent.hello`.
    public func heldLeases() -> [HeldLease] {
        self.held.withLockedValue { $0.map { HeldLease(jobId: $0.key, leaseToken: $0.value) } }.sorted { $0.jobId < $1.jobId }
    }

    /// Handles one leased job from the pre-dial check to the delivered report. True when the
    /// job's call slot was given back on the way (``settle(_:logger:)``), false when the caller
    /// still holds it.
    func work(_ job: LeasedJob) async -> Bool {
        let logger = JobLogger(base: self.logger, jobId: job.jobId)
        let key: String
        if let leasedDialing = job.idempotencyKey {
            key = leasedDialing  // leased with the pre-dial check passed: DIALING already
        } else {
            guard let dialing = await self.askToDial(job, logger: logger) else { return false }
            guard dialing.allowed, let allowedKey = dialing.idempotencyKey else {
                self.stats.withLockedValue { $0.skippedBeforeDial += 1 }
                if let due = dialing.runAt {
                    logger.info("not calling yet: deferred by a rule", metadata: ["rule": "\(dialing.rule ?? "?")", "run.at": "\(due)"])
                } else {
                    logger.info("not calling: refused by a rule", metadata: ["rule": "\(dialing.rule ?? "?")"])
                }
                return false
            }
            key = allowedKey
        }

        self.stats.withLockedValue { $0.onCalls += 1 }
        self.refreshStatusSoon()
        let startedAt = Date()
        var request = CallRequest(job: job, idempotencyKey: key, deadline: .now + self.configuration.callHardLimit)
        if let spool = self.spool {
            let started = Timestamp.string(startedAt)
            request.accepted = { @Sendable accepted in
                do {
                    try spool.saveCall(ReportSpool.Call(job: job, idempotencyKey: key, accepted: accepted, startedAt: started))
                } catch {
                    logger.error("cannot spool the accepted call; a restart cannot follow it", metadata: ["error": "\(error)"])
                }
            }
        }
        let placed = await self.placeWithLimit(request) { placer, request in await placer.place(request) }
        await self.finish(job, key: key, placed: placed, startedAt: startedAt, logger: logger)
        return true
    }

    /// Goes on following a call an earlier run left in progress (its slot was borrowed at the
    /// start, and is given back on the way), and reports it like any other.
    func resume(_ call: ReportSpool.Call) async {
        let logger = JobLogger(base: self.logger, jobId: call.job.jobId)
        logger.info("following the call again after a restart", metadata: ["provider.call": "\(call.accepted.providerCallId)"])
        self.stats.withLockedValue {
            $0.onCalls += 1
            $0.callsResumed += 1
        }
        let startedAt = Timestamp.parse(call.startedAt) ?? Date()
        // What is left of the call's hard limit, and always time for a few polls.
        let left = max(self.configuration.callHardLimit - .seconds(Date().timeIntervalSince(startedAt)), .seconds(30))
        let request = CallRequest(job: call.job, idempotencyKey: call.idempotencyKey, deadline: .now + left)
        let placed = await self.placeWithLimit(request) { placer, request in
            await placer.resume(request, following: call.accepted)
        }
        await self.finish(call.job, key: call.idempotencyKey, placed: placed, startedAt: startedAt, logger: logger)
    }

    /// A call is over: counts it, then spools and delivers its report (``settle(_:logger:)``,
    /// which gives its slot back).
    func finish(_ job: LeasedJob, key: String, placed: PlacedCall, startedAt: Date, logger: JobLogger) async {
        let endedAt = Date()
        self.stats.withLockedValue {
            $0.onCalls -= 1
            if placed.callPlaced { $0.callsPlaced += 1 }
        }
        self.refreshStatusSoon()

        let record = ReportPlan.callRecord(
            for: placed, provider: self.placer.provider, idempotencyKey: key, startedAt: startedAt, endedAt: endedAt)
        let plan = ReportPlan.make(for: placed, job: job, call: record, policy: self.configuration.outcomePolicy)
        switch plan.kind {
        case .noCallPlaced(let why):
            self.metrics.calls.increment("NOT_PLACED")
            logger.warning("no call placed", metadata: ["error": "\(why)"])
        case .outcomeUnknown(let why):
            self.metrics.calls.increment("UNKNOWN")
            logger.warning("call outcome unknown; failing the job without a retry", metadata: ["error": "\(why)"])
        case .ended:
            self.metrics.calls.increment(placed.outcome.rawValue)
        }
        if placed.callPlaced { self.metrics.callDuration.record(endedAt.timeIntervalSince(startedAt)) }
        await self.settle(plan.report, logger: logger)
    }

    /// The pre-dial check, waiting as long as a provider limit says "not yet". Nil when there is
    /// nothing to dial (the job is no longer ours, or it was given back).
    func askToDial(_ job: LeasedJob, logger: JobLogger) async -> DialingJob.Result? {
        var policy = PreDialCheckPolicy()
        while true {
            guard let client = await self.link.client(waitingUpTo: .seconds(5)) else {
                // Without the pre-dial check there is no call; the coordinator requeues the claim.
                logger.warning("no coordinator for the pre-dial check; not calling")
                return nil
            }
            let decision: PreDialCheckPolicy.Decision
            do {
                let answer = try await client.call(DialingJob.self, .init(jobId: job.jobId, leaseToken: job.leaseToken))
                decision = policy.answered(answer, stopping: Task.isShuttingDownGracefully)
            } catch {
                decision = policy.failed(error, stopping: Task.isShuttingDownGracefully)
                switch decision {
                case .notOurs: logger.info("not calling: the job is no longer ours", metadata: ["error": "\(error)"])
                case .askAgain: logger.debug("pre-dial check refused for now, asking again", metadata: ["error": "\(error)"])
                case .giveBack: logger.warning("pre-dial check failed; not calling", metadata: ["error": "\(error)"])
                case .answer: break
                }
            }
            switch decision {
            case .answer(let result):
                return result
            case .notOurs:
                return nil
            case .askAgain(let pause, _):
                try? await Task.sleep(for: pause)
            case .giveBack(let reason):
                await self.giveBack(job, because: reason, logger: logger)
                return nil
            }
        }
    }

    /// Returns a job we will not dial to the queue (a retryable failure before any call).
    func giveBack(_ job: LeasedJob, because reason: String, logger: JobLogger) async {
        await self.deliver(ReportPlan.giveBack(job, because: reason), logger: logger, patience: .seconds(10))
    }

    /// Places the call; a placer that overstays its deadline (it should return by then) is
    /// abandoned a little later (``CallWatchdog``) and the call counts as unknown.
    private func placeWithLimit(
        _ request: CallRequest, _ body: @escaping @Sendable (any Placer, CallRequest) async -> PlacedCall
    ) async -> PlacedCall {
        let placer = self.placer
        let limit = request.deadline - .now
        let placed = await self.watchdog.run(within: limit + .seconds(10)) {
            await body(placer, request)
        }
        return placed ?? .unknown("the placer did not return by the call's hard limit")
    }

    /// `refreshStatus` at most every 200 ms: per call it was 6 % of a busy agent's CPU (issue
    /// 11). The lease loop refreshes unthrottled whenever a slot frees, so the line settles on
    /// the last state when calls end.
    func refreshStatusSoon() {
        let now = ContinuousClock.now
        let due = self.lastStatusCheck.withLockedValue { last -> Bool in
            guard now - last >= .milliseconds(200) else { return false }
            last = now
            return true
        }
        if due { self.refreshStatus() }
    }

    /// Sends `STATUS=` when the summary changed.
    func refreshStatus() {
        let s = self.stats.withLockedValue { $0 }
        let work = s.onCalls == 0 ? "idle" : "on \(s.onCalls) call\(s.onCalls == 1 ? "" : "s")"
        let link = self.link.isConnected ? "coordinator connected" : "coordinator UNREACHABLE"
        let line = "\(work) · calls placed \(s.callsPlaced) · \(link)"
        let changed = self.lastStatus.withLockedValue { last -> Bool in
            defer { last = line }
            return last != line
        }
        if changed { self.notifier.status(line) }
    }
}
