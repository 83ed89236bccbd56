import CampaignCore
import CampaignProtocol
import Foundation
import Logging

/// The coordinator's view of PostgreSQL: every read and write of campaign data.
///
/// All writes about leased jobs go through ``apply(_:retry:)``, which locks the rows, asks the
/// ``JobStateMachine`` what each request means, and writes the decided transitions in one
/// array-taking statement — so one transaction serves the requests of many agents.
public final class PostgresJobStore: Sendable {
    public let pool: DatabasePool
    private let logger: Logger
    private let randomUnit: @Sendable () -> Double

    /// Names this process in notifications, so it can ignore its own.
    public let instanceID: String

    public init(
        pool: DatabasePool, logger: Logger, instanceID: String = "",
        randomUnit: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.pool = pool
        self.logger = logger
        self.instanceID = instanceID
        self.randomUnit = randomUnit
    }

    /// Tells other coordinators' long polls that jobs may be due (sent at commit).
    private func notifyJobsAvailable(_ conn: PQConnection) throws {
        try conn.execute(SQL.jobsNotify, [self.instanceID])
    }

    // MARK: Schema

    /// Applies missing migrations in one transaction under an advisory lock; returns the versions applied.
    @discardableResult
    public func migrate() async throws -> [Int] {
        try await self.pool.transaction { conn in
            try conn.exec(SQL.migrationsLock)
            try conn.exec(SQL.migrationsBootstrap)
            let applied = Set(try conn.query(SQL.migrationsApplied).all.map { try $0.int("version") })
            var done: [Int] = []
            for m in Migration.all where !applied.contains(m.version) {
                try conn.exec(m.sql)
                try conn.query(SQL.migrationsRecord, [String(m.version), m.name])
                done.append(m.version)
            }
            return done
        }
    }

    /// True when a trivial statement succeeds.
    public func ping() async -> Bool {
        (try? await self.pool.withConnection { conn in try conn.execute(SQL.ping).count }) == 1
    }

    // MARK: Customers

    /// Writes validated customers; returns (inserted, updated).
    /// - Parameter keepStatus: when true, an existing customer keeps its status (an import never
    ///   resurrects an opted-out customer unless the row names a status).
    public func upsertCustomers(_ customers: [ValidCustomer]) async throws -> (inserted: Int, updated: Int) {
        guard !customers.isEmpty else { return (0, 0) }
        // Rows that name no status keep the existing one; run the two kinds separately.
        let withStatus = customers.filter { $0.status != nil }
        let withoutStatus = customers.filter { $0.status == nil }
        return try await self.pool.transaction { conn in
            var inserted = 0
            var total = 0
            for (group, keep) in [(withStatus, false), (withoutStatus, true)] where !group.isEmpty {
                let rows = try conn.execute(SQL.customersUpsert, [
                    PGArray.encode(group.map { $0.externalRef }),
                    PGArray.encode(group.map { $0.name }),
                    PGArray.encode(group.map { $0.phone }),
                    PGArray.encode(group.map { $0.timezone }),
                    PGArray.encode(group.map { $0.status?.rawValue }),
                    PGArray.encode(group.map { $0.attributesJSON }),
                    keep ? "true" : "false",
                ])
                inserted += rows.all.filter { $0.bool("inserted") }.count
                total += rows.count
            }
            return (inserted, total - inserted)
        }
    }

    public func getCustomer(id: Int64?, externalRef: String?) async throws -> CustomerView? {
        try await self.pool.withConnection { conn in
            let rows = try conn.execute(SQL.customersGet, [id.map { String($0) }, externalRef])
            return rows.count > 0 ? try CustomerView(row: rows.row(0)) : nil
        }
    }

    public func listCustomers(_ p: ListCustomers.Params) async throws -> ListCustomers.Result {
        let limit = min(max(p.limit ?? 100, 1), 1000)
        return try await self.pool.withConnection { conn in
            let rows = try conn.execute(SQL.customersList, [p.status?.rawValue, String(limit), p.cursor])
            let customers = try rows.all.map(CustomerView.init(row:))
            return ListCustomers.Result(
                customers: customers, nextCursor: customers.count == limit ? customers.last.map { String($0.id) } : nil)
        }
    }

    // MARK: Enqueue

    /// Creates one job per item (idempotent on `queueJobId`, which must be set by the caller).
    public func enqueue(_ items: [EnqueueItem], defaultMaxAttempts: Int) async throws -> [EnqueueRow] {
        guard !items.isEmpty else { return [] }
        return try await self.pool.transaction { conn in
            let rows = try conn.execute(SQL.jobsEnqueue, [
                PGArray.encode(Array(0..<items.count)),
                PGArray.encode(items.map { $0.customerId }),
                PGArray.encode(items.map { $0.customerRef }),
                PGArray.encode(items.map { $0.queueJobId }),
                PGArray.encode(items.map { $0.reason }),
                PGArray.encode(items.map { $0.priority }),
                PGArray.encode(items.map { $0.maxAttempts }),
                PGArray.encode(items.map { $0.runAt }),
                String(defaultMaxAttempts),
            ])
            let out = try rows.all.map { r in
                EnqueueRow(
                    index: try r.int("idx"), customerFound: r["cid"] != nil,
                    jobId: r["job_id"].flatMap { Int64($0) }, created: r.bool("created"))
            }
            if out.contains(where: \.created) { try self.notifyJobsAvailable(conn) }
            return out
        }
    }

    // MARK: Leasing

    /// Leases up to `max` due jobs to `owner` for `leaseSeconds` (CLAIMED: the agent asks
    /// `jobs.dialing` before each call). A group of one of ``lease(_:leaseSeconds:rules:)``.
    public func lease(owner: String, max: Int, leaseSeconds: Int) async throws -> [LeasedJob] {
        guard max > 0 else { return [] }
        return try await self.lease([LeaseRequest(owner: owner, max: max)], leaseSeconds: leaseSeconds)[0].jobs
    }

    /// Serves the `jobs.lease` requests of many agents in one transaction (group commit).
    ///
    /// Due rows are locked best first (`SKIP LOCKED`) and handed out in request order. Each lease
    /// is decided by the ``JobStateMachine`` (`leaseRequested`); for a request with `dial`, the
    /// same machine then decides `dialingRequested` with the verdict of the business rules and
    /// the provider limits taken under the dial-limits lock, in this transaction, at this
    /// instant — the check `jobs.dialing` would make, only without a second round trip. A
    /// provider limit leaves the jobs it holds back QUEUED (the answer says when to ask again);
    /// a rule's refusal makes the job SKIPPED with the rule. One statement writes every decision.
    public func lease(
        _ requests: [LeaseRequest], leaseSeconds: Int, rules: DialRules = .unrestricted
    ) async throws -> [LeaseAnswer] {
        guard requests.contains(where: { $0.max > 0 }) else { return requests.map { _ in LeaseAnswer() } }
        return try await self.pool.transaction { conn in
            // One round trip to lock (with the BEGIN), one to write (with the COMMIT).
            let dialing = requests.contains(where: { $0.dial && $0.max > 0 })
            // As many rows as asked for, even when a provider limit will hold some back: a rule's
            // refusal spends no call slot, so the next row may still be dialed. Rows held back stay
            // QUEUED, locked only until this transaction ends.
            let wanted = requests.reduce(0) { $0 + max(0, $1.max) }
            let locked = try conn.pipeline(
                [.statement(SQL.forceGenericPlans, [])] + (dialing ? DialLimiter.lockSteps(rules) : [])
                    + [.statement(SQL.jobsLockDue, [String(wanted)])])
            var limits = dialing ? try DialLimiter(locked[2], rules: rules) : nil
            var due = try LockedJob.parse(locked[locked.count - 1])[...]

            var answers = requests.map { _ in LeaseAnswer() }
            var writes: [LeaseWrite] = []
            var dialed: [Int64] = []
            for (i, request) in requests.enumerated() {
                var handed = 0
                while handed < request.max, var job = due.first {
                    let token = UUID().uuidString.lowercased()
                    job.machine.handle(.leaseRequested, newToken: token)
                    var write = LeaseWrite(id: job.id, owner: request.owner, token: token)
                    if request.dial {
                        let event = JobStateMachine.Event.dialingRequested(token: token, verdict: limits!.verdict(for: job))
                        if job.machine.decide(event) == .transition(.startDialing), let wait = limits!.admit() {
                            // Over a provider limit: this job and the rest stay QUEUED for now.
                            answers[i].retryAfterMs = wait
                            break
                        }
                        if case .transition(.skip(let rule)) = job.machine.handle(event) {
                            write.result = ["reason": .string(rule)]
                            answers[i].refused.append(DialRefusal(jobId: job.id, rule: rule))
                        } else {
                            write.idempotencyKey = job.idempotencyKey
                            dialed.append(job.customerId)
                        }
                    }
                    write.status = job.machine.snapshot.status
                    write.phase = job.machine.snapshot.phase
                    write.lastReport = job.machine.snapshot.lastReport
                    writes.append(write)
                    due.removeFirst()
                    handed += 1
                    if job.machine.snapshot.status == .active {
                        answers[i].jobs.append(job.leased(token: token, idempotencyKey: write.idempotencyKey))
                    }
                }
                // Served short because the provider limits are spent (here or by earlier requests).
                if request.dial, handed < request.max, let l = limits, l.slack == 0 {
                    answers[i].retryAfterMs = answers[i].retryAfterMs ?? l.waitMs
                }
            }
            guard !writes.isEmpty else { return answers }
            let written = try conn.pipeline(
                [LeaseWrite.step(writes, leaseSeconds: leaseSeconds)] + (limits?.recordSteps(customers: dialed) ?? []),
                commit: true)
            let expiries = try LeaseWrite.expiries(written[0])
            for i in answers.indices {
                for k in answers[i].jobs.indices { answers[i].jobs[k].leaseExpiresAt = expiries[answers[i].jobs[k].jobId] ?? "" }
                answers[i].jobs.sort { $0.jobId < $1.jobId }  // as jobs.lease always answered
            }
            return answers
        }
    }

    // MARK: Agent-side writes

    /// Applies a batch of agent requests in one transaction and answers each in order.
    ///
    /// Rows are locked (`FOR UPDATE`), each request is decided by the ``JobStateMachine`` against
    /// the row as earlier requests of the batch left it, and all transitions are written with
    /// one statement. Call logs of placed calls are kept whatever the decision.
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
            let ids = Array(Set(requests.map { $0.jobId })).sorted()
            let locked = try conn.pipeline(
                (dialing ? DialLimiter.lockSteps(rules) : []) + [LockedJob.lockStep(ids: ids, withCustomers: dialing)])
            var limits = dialing ? try DialLimiter(locked[1], rules: rules) : nil
            var jobs = Dictionary(try LockedJob.parse(locked[locked.count - 1]).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
            var writes: [Int64: TransitionWrite] = [:]
            var calls: [CallLogWrite] = []
            var dialed: [Int64] = []
            var outcomes: [JobRequestOutcome?] = []
            var replayed = Set<Int>()

            for (i, request) in requests.enumerated() {
                guard var job = jobs[request.jobId] else {
                    outcomes.append(.notFound)
                    continue
                }
                if let call = request.call, let write = CallLogWrite(call: call, job: job, agent: request.agent) {
                    calls.append(write)
                }
                let event: JobStateMachine.Event
                switch request.kind {
                case .dialing:
                    let verdict = limits!.verdict(for: job)
                    event = .dialingRequested(token: request.leaseToken, verdict: verdict)
                    // Allowed by the rules but over a provider limit: the agent waits and asks again.
                    if job.machine.decide(event) == .transition(.startDialing), let wait = limits!.admit() {
                        outcomes.append(.dialing(DialingJob.Result(
                            allowed: false, idempotencyKey: nil, rule: nil, status: .active, retryAfterMs: wait)))
                        continue
                    }
                case .complete: event = .completeReported(token: request.leaseToken)
                case .fail(let retryable, _, _, let unknown):
                    event = .failReported(token: request.leaseToken, retryable: retryable, outcomeUnknown: unknown)
                case .skip: event = .skipReported(token: request.leaseToken)
                }
                switch job.machine.decide(event) {
                case .reject(let rejection):
                    outcomes.append(.rejected(rejection, status: job.machine.snapshot.status))
                case .replay:
                    replayed.insert(i)
                    outcomes.append(nil)
                case .transition(let t):
                    var write = TransitionWrite(id: job.id)
                    switch (t, request.kind) {
                    case (.startDialing, _):
                        write.idempotencyKey = job.idempotencyKey
                        dialed.append(job.customerId)
                    case (.complete, .complete(let outcome)):
                        write.result = ["outcome": .string(outcome.rawValue)]
                    case (.retryLater, .fail(_, let error, let outcome, _)):
                        write.delayMs = retry.delayMs(afterAttempt: job.machine.snapshot.attemptsMade, unit: randomUnit())
                        write.result = ["error": .string(error), "retry": true]
                        if let outcome { write.result?["outcome"] = .string(outcome.rawValue) }
                    case (.fail(let reason), .fail(_, let error, let outcome, _)):
                        write.result = ["error": .string(error), "reason": .string(reason.rawValue)]
                        if let outcome { write.result?["outcome"] = .string(outcome.rawValue) }
                    case (.skip(let reason), .skip(let detail)):
                        write.result = ["reason": .string(reason), "detail": .string(detail)]
                    case (.skip(let rule), .dialing):
                        write.result = ["reason": .string(rule)]
                    default:
                        break
                    }
                    job.machine.handle(event)
                    write.status = job.machine.snapshot.status
                    write.phase = job.machine.snapshot.phase
                    write.lastReport = job.machine.snapshot.lastReport
                    if let previous = writes[job.id] { write.mergeKeeping(previous) }
                    writes[job.id] = write
                    jobs[job.id] = job
                    outcomes.append(nil)
                }
            }

            // Answer from the rows as they are now: the written ones come back from the update,
            // the others (replays) are read after it. Call logs go first: their job's key check
            // then finds the row this transaction holds FOR UPDATE (no KEY SHARE lock to write).
            let unwritten = Set(requests.enumerated().filter { replayed.contains($0.offset) }.map { $0.element.jobId })
                .subtracting(writes.keys)
            var steps: [PQConnection.PipelineStep] = []
            if !calls.isEmpty { steps.append(CallLogWrite.step(calls)) }
            let written = steps.count
            if !writes.isEmpty { steps.append(TransitionWrite.step(Array(writes.values))) }
            if !dialed.isEmpty { steps += limits!.recordSteps(customers: dialed) }
            let read = steps.count
            if !unwritten.isEmpty { steps.append(ReportView.loadStep(ids: unwritten.sorted())) }
            let results = steps.isEmpty ? [] : try conn.pipeline(steps, commit: true)
            var views = writes.isEmpty ? [:] : try ReportView.views(results[written])
            if !unwritten.isEmpty {
                views.merge(try ReportView.views(results[read]), uniquingKeysWith: { a, _ in a })
            }
            return requests.enumerated().map { i, request in
                if let decided = outcomes[i] { return decided }
                let view = views[request.jobId]!
                let job = jobs[request.jobId]!
                if request.kind == .dialing {
                    let allowed = view.status == .active && job.machine.snapshot.phase == .dialing
                    return .dialing(DialingJob.Result(
                        allowed: allowed, idempotencyKey: allowed ? job.idempotencyKey : nil,
                        rule: allowed ? nil : view.result?["reason"]?.stringValue, status: view.status,
                        retryAfterMs: nil))
                }
                return .report(ReportResult(
                    jobId: request.jobId, status: view.status, attemptsMade: view.attemptsMade,
                    runAt: view.status == .queued ? view.runAt : nil, replayed: replayed.contains(i),
                    result: view.result))
            }
        }
    }

    // MARK: Lease maintenance

    /// Extends the leases of the given owners; returns how many jobs were renewed.
    @discardableResult
    /// - Parameter maximumAgeSeconds: leases started longer ago than this are left to expire.
    public func renewLeases(owners: [String], leaseSeconds: Int, maximumAgeSeconds: Int = 7200) async throws -> Int {
        guard !owners.isEmpty else { return 0 }
        return try await self.pool.withConnection { conn in
            try conn.execute(
                SQL.jobsRenewLeases, [PGArray.encode(owners), String(leaseSeconds), String(maximumAgeSeconds)]
            ).affected
        }
    }

    /// Moves the held leases whose tokens are still current to `owner`; returns their ids.
    public func adoptLeases(_ leases: [HeldLease], owner: String, leaseSeconds: Int) async throws -> [Int64] {
        // A token that is not a UUID cannot be current: leave it out rather than fail the cast.
        let valid = leases.filter { UUID(uuidString: $0.leaseToken) != nil }
        guard !valid.isEmpty else { return [] }
        return try await self.pool.withConnection { conn in
            try conn.execute(SQL.jobsAdoptLeases, [
                PGArray.encode(valid.map(\.jobId)), PGArray.encode(valid.map(\.leaseToken)), owner, String(leaseSeconds),
            ]).all.map { try $0.int64("id") }.sorted()
        }
    }

    /// Expires up to `limit` lapsed leases as the state machine decides (CLAIMED → QUEUED, or
    /// FAILED `lease_expired` without attempts left; DIALING → FAILED `outcome_unknown`).
    /// Returns the job ids changed.
    public func expireLeases(limit: Int = 1000) async throws -> [Int64] {
        try await self.pool.transaction { conn in
            let jobs = try LockedJob.lock(conn, SQL.jobsLockExpired, [String(limit)])
            return try self.applyEvent(.leaseExpired, to: jobs, conn)
        }
    }

    /// Returns the CLAIMED jobs of a lease owner whose connection closed to the queue at once.
    /// DIALING jobs keep their lease: the call may still be running. Returns the job ids changed.
    public func releaseClaimed(owner: String) async throws -> [Int64] {
        try await self.pool.transaction { conn in
            let jobs = try LockedJob.lock(conn, SQL.jobsLockClaimedByOwner, [owner])
            return try self.applyEvent(.connectionLost, to: jobs, conn)
        }
    }

    // MARK: Admin

    /// What an admin change did to one job.
    public enum AdminOutcome: Sendable, Equatable {
        case changed
        case rejected(JobStatus)
        case notFound
    }

    /// Applies an admin event (`retryRequested` or `cancelRequested`) to the given jobs, as the
    /// state machine decides. A retry makes the job due now with `retryBudget` more attempts.
    public func admin(
        _ event: JobStateMachine.Event, ids: [Int64], retryBudget: Int = 1
    ) async throws -> [Int64: AdminOutcome] {
        guard !ids.isEmpty else { return [:] }
        return try await self.pool.transaction { conn in
            let jobs = try LockedJob.lock(conn, ids: Array(Set(ids)).sorted(), withCustomers: false)
            var outcomes: [Int64: AdminOutcome] = [:]
            var writes: [TransitionWrite] = []
            for id in ids {
                guard var job = jobs[id] else {
                    outcomes[id] = .notFound
                    continue
                }
                let decision = job.machine.handle(event, retryBudget: retryBudget)
                guard case .transition(let t) = decision else {
                    outcomes[id] = .rejected(job.machine.snapshot.status)
                    continue
                }
                var write = TransitionWrite(id: id)
                write.status = job.machine.snapshot.status
                write.phase = job.machine.snapshot.phase
                switch t {
                case .reset:
                    write.delayMs = 0
                    write.maxAttempts = job.machine.snapshot.maxAttempts
                case .skip(let reason):
                    write.result = ["reason": .string(reason)]
                default:
                    break
                }
                writes.append(write)
                outcomes[id] = .changed
            }
            if !writes.isEmpty { try TransitionWrite.apply(conn, writes) }
            if writes.contains(where: { $0.status == .queued }) { try self.notifyJobsAvailable(conn) }
            return outcomes
        }
    }

    /// Applies one event without a token (expiry, connection loss) to locked jobs.
    private func applyEvent(
        _ event: JobStateMachine.Event, to jobs: [Int64: LockedJob], _ conn: PQConnection
    ) throws -> [Int64] {
        var writes: [TransitionWrite] = []
        for var job in jobs.values {
            guard case .transition(let t) = job.machine.decide(event) else { continue }
            var write = TransitionWrite(id: job.id)
            if case .fail(let reason) = t { write.result = ["reason": .string(reason.rawValue)] }
            job.machine.handle(event)
            write.status = job.machine.snapshot.status
            write.phase = job.machine.snapshot.phase
            writes.append(write)
        }
        if !writes.isEmpty { try TransitionWrite.apply(conn, writes) }
        if writes.contains(where: { $0.status == .queued }) { try self.notifyJobsAvailable(conn) }
        return writes.map(\.id).sorted()
    }

    // MARK: Automation

    /// The counts of one `automation.run`.
    public struct AutomationRunCounts: Sendable, Equatable {
        public var byReason: [String: Int]
        public var eligible: Int
        public var picked: Int
        public var enqueued: Int
        public var capRemaining: Int
        public var date: String
    }

    static func automationParams(_ s: AutomationSettings, dryRun: Bool, at: Date?) -> [String?] {
        [
            s.timezone, s.workingHoursStart, s.workingHoursEnd, PGArray.encode(s.workingDays),
            String(s.cooldownMinutes), String(s.dailyCap), String(s.maxAttempts), dryRun ? "true" : "false",
            // Whole microseconds, floored (PostgreSQL's resolution): rounding would move an instant
            // just before a boundary (09:00, midnight, a cooldown's end) onto it. From the reference
            // date, which Date stores, so no precision is lost on the way.
            at.map { String(Int64(($0.timeIntervalSinceReferenceDate * 1_000_000).rounded(.down)) + 978_307_200_000_000) },
        ]
    }

    /// Runs the set-based automatic enqueue (see `SQL.automationRun`) under the cap lock.
    /// - Parameter at: the instant to judge at (tests); nil is the database's now.
    public func automationRun(_ s: AutomationSettings, dryRun: Bool, at: Date? = nil) async throws -> AutomationRunCounts {
        try await self.pool.transaction { conn in
            try conn.execute(SQL.dialLimitsLock)
            let rows = try conn.execute(SQL.automationRun, Self.automationParams(s, dryRun: dryRun, at: at))
            var out = AutomationRunCounts(byReason: [:], eligible: 0, picked: 0, enqueued: 0, capRemaining: 0, date: "")
            for r in rows.all {
                let k = try r.string("k")
                let n = try r.int("n")
                switch k {
                case "eligible": out.eligible = n
                case "picked": out.picked = n
                case "enqueued": out.enqueued = n
                case "cap_remaining": out.capRemaining = n
                case _ where k.hasPrefix("date:"): out.date = String(k.dropFirst(5))
                default: out.byReason[k] = n
                }
            }
            if out.enqueued > 0 { try self.notifyJobsAvailable(conn) }
            return out
        }
    }

    /// Every customer's eligibility reason (nil: eligible) as `automationRun` judges it, by id.
    public func classifyCustomers(_ s: AutomationSettings, at: Date? = nil) async throws -> [Int64: String?] {
        try await self.pool.withConnection { conn in
            var out: [Int64: String?] = [:]
            for r in try conn.execute(SQL.customersClassify, Self.automationParams(s, dryRun: true, at: at)).all {
                out[try r.int64("id")] = r["reason"]
            }
            return out
        }
    }

    /// Forgets call-start counters older than `days` days (and 100 ms ones older than ten
    /// minutes); answers how many counter rows went.
    @discardableResult
    public func pruneDialCounters(olderThanDays days: Int = 3) async throws -> Int {
        try await self.pool.withConnection { conn in
            try conn.execute(SQL.dialCountersPrune, [String(days)]).row(0).int("n")
        }
    }

    // MARK: Reads

    public func listJobs(_ p: ListJobs.Params) async throws -> ListJobs.Result {
        let limit = min(max(p.limit ?? 100, 1), 1000)
        let cursor: Int64? = p.cursor.flatMap { Int64($0) }
        return try await self.pool.withConnection { conn in
            let rows = try conn.execute(SQL.jobsList, [
                p.status?.rawValue, p.customerRef, String(limit), cursor.map { String($0) },
                p.updatedSince, p.updatedBefore, p.reason, p.outcome?.rawValue,
            ])
            let jobs = try rows.all.map(JobView.init(row:))
            return ListJobs.Result(jobs: jobs, nextCursor: jobs.count == limit ? jobs.last.map { String($0.id) } : nil)
        }
    }

    /// One job with its call logs, or nil.
    public func getJob(id: Int64?, queueJobId: String?) async throws -> GetJob.Result? {
        try await self.pool.withConnection { conn in
            let rows = try conn.execute(SQL.jobsGet, [id.map { String($0) }, queueJobId])
            guard rows.count > 0 else { return nil }
            let job = try JobView(row: rows.row(0))
            let logs = try conn.execute(SQL.callLogsForJob, [String(job.id)]).all.map { r in
                CallLogView(
                    id: try r.int64("id"), jobId: try r.int64("job_id"), attempt: try r.int("attempt"),
                    agent: try r.string("agent"), provider: try r.string("provider"),
                    providerCallId: r["provider_call_id"], idempotencyKey: try r.string("idempotency_key"),
                    startedAt: r["started_at"], endedAt: r["ended_at"],
                    outcome: CallOutcome(rawValue: try r.string("outcome")) ?? .failed,
                    durationMs: r.optionalInt("duration_ms"), detail: JSONText.decode(r["detail"]))
            }
            return GetJob.Result(job: job, callLogs: logs)
        }
    }

    /// Queue counts by status and completions today (in the campaign `timezone`).
    public func counts(timezone: String = "UTC") async throws -> (queue: QueueCounts, completedToday: Int) {
        try await self.pool.withConnection { conn in
            var q = QueueCounts()
            var today = 0
            for r in try conn.execute(SQL.jobsCountByStatus, [timezone]).all {
                if let s = JobStatus(rawValue: try r.string("status")) { q[s] = try r.int("n") }
                today += r.optionalInt("today") ?? 0
            }
            return (q, today)
        }
    }

    public func tally() async throws -> TallyJobs.Result {
        try await self.pool.withConnection { conn in
            var q = QueueCounts()
            var byOutcome: [String: Int] = [:]
            for r in try conn.execute(SQL.jobsTally).all {
                let status = try r.string("status")
                let n = try r.int("n")
                if let s = JobStatus(rawValue: status) { q[s] += n }
                let outcome = r["outcome"] ?? ""
                byOutcome[outcome.isEmpty ? status : "\(status)/\(outcome)", default: 0] += n
            }
            let logs = try conn.execute(SQL.callLogsCount).row(0).int("n")
            return TallyJobs.Result(byStatus: q, byOutcome: byOutcome, callLogs: logs)
        }
    }

    /// How many jobs each lease owner holds ACTIVE right now.
    public func leasesHeld(owners: [String]) async throws -> [String: Int] {
        guard !owners.isEmpty else { return [:] }
        return try await self.pool.withConnection { conn in
            var held: [String: Int] = [:]
            for r in try conn.execute(SQL.leasesByOwner, [PGArray.encode(owners)]).all {
                held[try r.string("lease_owner")] = try r.int("n")
            }
            return held
        }
    }

    // MARK: Settings

    public func timezoneNames() async throws -> Set<String> {
        try await self.pool.withConnection { conn in
            Set(try conn.execute(SQL.timezoneNames).all.map { try $0.string("name") })
        }
    }

    /// The stored settings over the defaults.
    public func settings() async throws -> AutomationSettings {
        try await self.pool.withConnection { conn in
            var object: [String: JSONValue] = [:]
            for r in try conn.execute(SQL.settingsAll).all {
                object[try r.string("key")] = JSONText.decode(r["value"])
            }
            return AutomationSettingsCoding.merge(object, over: AutomationSettings())
        }
    }

    /// Writes the settings that differ, logging each change with `by`.
    public func writeSettings(_ new: AutomationSettings, by: String) async throws {
        let pairs = AutomationSettingsCoding.pairs(new)
        try await self.pool.withConnection { conn in
            try conn.execute(SQL.settingsWrite, [
                PGArray.encode(pairs.map { $0.key }), PGArray.encode(pairs.map { $0.json }), by,
            ])
        }
    }
}

// MARK: - Row helpers (private to the store)

/// The counters of one batch's dialing checks, taken under the limits lock and kept up to date
/// as the batch admits calls.
struct DialLimiter {
    var callsToday: Int
    var dialing: Int
    var inWindow: Int
    let now: Date
    /// The database's clock of this batch as it gave it: the instant the starts are recorded at.
    let nowEpoch: String
    let rules: DialRules

    /// The dial-limits lock and the counters under it (read with ``init(_:rules:)`` from the second).
    static func lockSteps(_ rules: DialRules) -> [PQConnection.PipelineStep] {
        [.statement(SQL.dialLimitsLock, []), .statement(SQL.dialCounters, [rules.timezone, String(rules.rateWindow.seconds)])]
    }

    init(_ counters: PQRows, rules: DialRules) throws {
        guard counters.count == 1 else { throw StoreError(.unexpectedResult, "dial counters: \(counters.count) rows") }
        let r = counters.row(0)
        self.callsToday = try r.int("today")
        self.dialing = try r.int("dialing")
        self.inWindow = try r.int("window")
        self.nowEpoch = try r.string("now_epoch")
        self.now = Date(timeIntervalSince1970: Double(self.nowEpoch) ?? Date().timeIntervalSince1970)
        self.rules = rules
    }

    /// Records the batch's call starts, the one home of "a call started" (besides the jobs'
    /// own DIALING rows): the customers are marked called (their cooldown counts from now) and
    /// the starts counted at the batch's instant.
    func recordSteps(customers: [Int64]) -> [PQConnection.PipelineStep] {
        guard !customers.isEmpty else { return [] }
        return [
            .statement(SQL.customersMarkCalled, [PGArray.encode(customers)]),
            .statement(SQL.dialCountersAdd, [self.nowEpoch, String(customers.count)]),
        ]
    }

    /// The business rules for this job's customer, now (the cap included).
    func verdict(for job: LockedJob) -> JobStateMachine.DialVerdict {
        guard let tz = TimeZone(identifier: job.timezone) else { return .refused(rule: "unknown_timezone") }
        let customer = EligibilityPolicy.Customer(
            status: job.customerStatus, phone: job.phone, timeZone: tz,
            lastCalledAt: job.lastCalledEpoch.map { Date(timeIntervalSince1970: $0) })
        return self.rules.policy.dialVerdict(
            customer, attempt: job.machine.snapshot.attemptsMade, callsToday: self.callsToday,
            dailyCap: self.rules.dailyCap, now: self.now)
    }

    /// Takes one call slot under the provider limits; nil when admitted, else how long to wait (ms).
    mutating func admit() -> Int? {
        guard self.slack > 0 else { return self.waitMs }
        self.dialing += 1
        self.inWindow += 1
        self.callsToday += 1
        return nil
    }

    /// How many more calls the provider limits admit now.
    var slack: Int {
        max(0, min(self.rules.maxConcurrentCalls - self.dialing, self.rules.rateWindow.calls - self.inWindow))
    }

    /// How long to wait when no call is admitted: until a call may end (concurrency), or one
    /// call's share of the rate window.
    var waitMs: Int {
        if self.dialing >= self.rules.maxConcurrentCalls { return 1000 }
        let window = self.rules.rateWindow
        return max(50, Int(window.seconds * 1000) / window.calls)
    }
}

/// A job row locked for a batch, with its state machine.
struct LockedJob {
    var id: Int64
    var queueJobId: String
    var customerId: Int64
    var customerStatus: CustomerStatus
    var phone: String
    var timezone: String
    var lastCalledEpoch: Double?
    var machine: JobStateMachine
    var reason: String?
    var externalRef: String
    var name: String
    var attributes: String?

    var idempotencyKey: String {
        IdempotencyKey(queueJobId: self.queueJobId, attempt: self.machine.snapshot.attemptsMade).description
    }

    /// The wire form of this job just leased with `token` (its expiry is filled in once written).
    func leased(token: String, idempotencyKey: String?) -> LeasedJob {
        LeasedJob(
            jobId: self.id, queueJobId: self.queueJobId, leaseToken: token, attempt: self.machine.snapshot.attemptsMade,
            maxAttempts: self.machine.snapshot.maxAttempts, leaseExpiresAt: "", reason: self.reason,
            customer: CallTarget(
                customerId: self.customerId, externalRef: self.externalRef, name: self.name, phone: self.phone,
                timezone: self.timezone, attributes: JSONText.decode(self.attributes)),
            idempotencyKey: idempotencyKey)
    }

    /// Locks the jobs of a batch of agent requests; `withCustomers` when a pre-dial check needs
    /// the customer's state (without it the customer reads as a number that may not be called).
    static func lock(_ conn: PQConnection, ids: [Int64], withCustomers: Bool) throws -> [Int64: LockedJob] {
        let step = self.lockStep(ids: ids, withCustomers: withCustomers)
        return try self.lock(conn, step.statement, step.params)
    }

    static func lockStep(ids: [Int64], withCustomers: Bool) -> PQConnection.PipelineStep {
        .statement(withCustomers ? SQL.jobsLockForReport : SQL.jobsLockForReportOnly, [PGArray.encode(ids)])
    }

    static func lock(_ conn: PQConnection, _ statement: SQLStatement, _ params: [String?]) throws -> [Int64: LockedJob] {
        Dictionary(try self.parse(conn.execute(statement, params)).map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The locked rows in the statement's order.
    static func parse(_ rows: PQRows) throws -> [LockedJob] {
        var out: [LockedJob] = []
        for r in rows.all {
            let snapshot = JobStateMachine.Snapshot(
                status: JobStatus(rawValue: try r.string("status")) ?? .failed,
                phase: r["phase"].flatMap(JobPhase.init(rawValue:)), leaseToken: r["lease_token"],
                attemptsMade: try r.int("attempts_made"), maxAttempts: try r.int("max_attempts"),
                outcomeUnknown: r.bool("outcome_unknown"),
                lastReport: r["last_report"].flatMap(JobStateMachine.ReportKind.init(rawValue:)))
            out.append(LockedJob(
                id: try r.int64("id"), queueJobId: try r.string("queue_job_id"), customerId: try r.int64("customer_id"),
                customerStatus: r["customer_status"].flatMap(CustomerStatus.init(rawValue:)) ?? .invalidNumber,
                phone: r["phone"] ?? "", timezone: r["timezone"] ?? "UTC",
                lastCalledEpoch: r["last_called_epoch"].flatMap(Double.init), machine: JobStateMachine(snapshot),
                reason: r["reason"], externalRef: r["external_ref"] ?? "", name: r["name"] ?? "",
                attributes: r["attributes"]))
        }
        return out
    }
}

/// One row of the transitions statement.
struct TransitionWrite {
    var id: Int64
    var status: JobStatus = .queued
    var phase: JobPhase?
    var delayMs: Int?
    var result: [String: JSONValue]?
    var idempotencyKey: String?
    var maxAttempts: Int?
    var lastReport: JobStateMachine.ReportKind?

    /// Two transitions of one job in one batch: the later wins, keeping what it leaves unset.
    mutating func mergeKeeping(_ earlier: TransitionWrite) {
        if self.result == nil { self.result = earlier.result }
        if self.idempotencyKey == nil { self.idempotencyKey = earlier.idempotencyKey }
        if self.maxAttempts == nil { self.maxAttempts = earlier.maxAttempts }
    }

    /// Writes the transitions; answers each written job's report view.
    @discardableResult
    static func apply(_ conn: PQConnection, _ writes: [TransitionWrite]) throws -> [Int64: ReportView] {
        let step = self.step(writes)
        return try ReportView.views(try conn.execute(step.statement, step.params))
    }

    /// The transitions statement; its rows are the written jobs' report views.
    static func step(_ writes: [TransitionWrite]) -> PQConnection.PipelineStep {
        .statement(SQL.jobsApplyTransitions, [
            PGArray.encode(writes.map { $0.id }),
            PGArray.encode(writes.map { $0.status.rawValue }),
            PGArray.encode(writes.map { $0.phase?.rawValue }),
            PGArray.encode(writes.map { $0.delayMs }),
            PGArray.encode(writes.map { w in w.result.map { JSONText.encode(.object($0)) } }),
            PGArray.encode(writes.map { $0.idempotencyKey }),
            PGArray.encode(writes.map { $0.maxAttempts }),
            PGArray.encode(writes.map { $0.lastReport?.rawValue }),
        ])
    }
}

/// One row of the lease statement.
struct LeaseWrite {
    var id: Int64
    var owner: String
    var token: String
    var status: JobStatus = .active
    var phase: JobPhase? = .claimed
    var idempotencyKey: String?
    var result: [String: JSONValue]?
    var lastReport: JobStateMachine.ReportKind?

    /// The lease statement; ``expiries(_:)`` reads its rows.
    static func step(_ writes: [LeaseWrite], leaseSeconds: Int) -> PQConnection.PipelineStep {
        .statement(SQL.jobsLeaseWrite, [
            PGArray.encode(writes.map { $0.id }),
            PGArray.encode(writes.map { $0.status.rawValue }),
            PGArray.encode(writes.map { $0.phase?.rawValue }),
            PGArray.encode(writes.map { $0.owner }),
            PGArray.encode(writes.map { $0.token }),
            PGArray.encode(writes.map { $0.idempotencyKey }),
            PGArray.encode(writes.map { w in w.result.map { JSONText.encode(.object($0)) } }),
            PGArray.encode(writes.map { $0.lastReport?.rawValue }),
            String(leaseSeconds),
        ])
    }

    /// Each ACTIVE job's lease expiry.
    static func expiries(_ rows: PQRows) throws -> [Int64: String] {
        var out: [Int64: String] = [:]
        for r in rows.all { if let e = r["lease_expires_at"] { out[try r.int64("id")] = e } }
        return out
    }
}

/// One row of the call-log insert.
struct CallLogWrite {
    var jobId: Int64
    var customerId: Int64
    var attempt: Int
    var agent: String
    var call: CallRecord

    /// Nil when the record's idempotency key does not belong to this job (a confused agent).
    init?(call: CallRecord, job: LockedJob, agent: String) {
        guard let attempt = IdempotencyKey.attempt(of: call.idempotencyKey, queueJobId: job.queueJobId) else { return nil }
        self.jobId = job.id
        self.customerId = job.customerId
        self.attempt = attempt
        self.agent = agent
        self.call = call
    }

    static func step(_ rows: [CallLogWrite]) -> PQConnection.PipelineStep {
        .statement(SQL.callLogsInsert, [
            PGArray.encode(rows.map { $0.jobId }),
            PGArray.encode(rows.map { $0.customerId }),
            PGArray.encode(rows.map { $0.attempt }),
            PGArray.encode(rows.map { $0.agent }),
            PGArray.encode(rows.map { $0.call.provider }),
            PGArray.encode(rows.map { $0.call.providerCallId }),
            PGArray.encode(rows.map { $0.call.idempotencyKey }),
            PGArray.encode(rows.map { $0.call.startedAt }),
            PGArray.encode(rows.map { $0.call.endedAt }),
            PGArray.encode(rows.map { $0.call.outcome.rawValue }),
            PGArray.encode(rows.map { $0.call.durationMs }),
            PGArray.encode(rows.map { r in r.call.detail.map { JSONText.encode($0) } }),
        ])
    }
}

/// What an answer to a report shows of a job.
struct ReportView {
    var status: JobStatus
    var attemptsMade: Int
    var runAt: String?
    var result: JSONValue?

    static func loadStep(ids: [Int64]) -> PQConnection.PipelineStep {
        .statement(SQL.jobsReportView, [PGArray.encode(ids)])
    }

    /// Rows of `SQL.reportViewColumns`, by job id.
    static func views(_ rows: PQRows) throws -> [Int64: ReportView] {
        var out: [Int64: ReportView] = [:]
        for r in rows.all {
            out[try r.int64("id")] = ReportView(
                status: JobStatus(rawValue: try r.string("status")) ?? .failed,
                attemptsMade: try r.int("attempts_made"), runAt: r["run_at"], result: JSONText.decode(r["result"]))
        }
        return out
    }
}

extension CustomerView {
    init(row r: PQRow) throws {
        self.init(
            id: try r.int64("id"), externalRef: try r.string("external_ref"), name: r["name"] ?? "",
            phone: try r.string("phone"), timezone: try r.string("timezone"),
            status: CustomerStatus(rawValue: try r.string("status")) ?? .invalidNumber, lastCalledAt: r["last_called_at"],
            attributes: JSONText.decode(r["attributes"]), createdAt: try r.string("created_at"),
            updatedAt: try r.string("updated_at"))
    }
}

extension JobView {
    init(row r: PQRow) throws {
        self.init(
            id: try r.int64("id"), queueJobId: try r.string("queue_job_id"), customerId: try r.int64("customer_id"),
            customerRef: r["customer_ref"], status: JobStatus(rawValue: try r.string("status")) ?? .failed,
            phase: r["phase"].flatMap(JobPhase.init(rawValue:)), attemptsMade: try r.int("attempts_made"),
            maxAttempts: try r.int("max_attempts"), priority: try r.int("priority"), runAt: try r.string("run_at"),
            reason: r["reason"], result: JSONText.decode(r["result"]), leaseOwner: r["lease_owner"],
            leaseExpiresAt: r["lease_expires_at"], enqueuedAt: try r.string("enqueued_at"),
            startedAt: r["started_at"], completedAt: r["completed_at"], failedAt: r["failed_at"],
            updatedAt: try r.string("updated_at"))
    }
}

/// JSON text ↔ ``JSONValue`` for jsonb columns.
enum JSONText {
    /// A jsonb column's text (always valid JSON) as a value.
    static func decode(_ text: String?) -> JSONValue? {
        guard let text else { return nil }
        return try? JSONValue(jsonText: text)
    }

    /// A value as JSON text for a jsonb parameter.
    static func encode(_ value: JSONValue) -> String { value.jsonText }
}

/// Settings ↔ key/value rows (one row per field, so each change is logged on its own).
enum AutomationSettingsCoding {
    static func pairs(_ s: AutomationSettings) -> [(key: String, json: String)] {
        s.asObject().sorted { $0.key < $1.key }.map { ($0.key, JSONText.encode($0.value)) }
    }

    /// Stored values over the defaults; a stored value that no longer decodes is ignored (logged
    /// by the caller) rather than making every read fail.
    static func merge(_ o: [String: JSONValue], over d: AutomationSettings) -> AutomationSettings {
        var s = d
        for (k, v) in o where AutomationSettings.keys.contains(k) {
            if let next = try? s.applying([k: v]) { s = next }
        }
        return s
    }
}
