import ArgumentParser
import CampaignCore
import CampaignProtocol
import CampaignRPC
import Foundation

extension JobStatus: ExpressibleByArgument {}
extension CallOutcome: ExpressibleByArgument {}

struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, inspect and enqueue jobs.", subcommands: [List.self, Get.self, Export.self, Enqueue.self, Tally.self, Retry.self, Cancel.self, Reconcile.self])

    /// Customer external refs, one per line of a file ('-': stdin); blank lines and `#` comments skipped.
    static func refs(fromFile file: String) throws -> [String] {
        let text: String
        if file == "-" {
            text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        } else {
            guard let t = try? String(contentsOfFile: file, encoding: .utf8) else { Output.fail("cannot read \(file)") }
            text = t
        }
        return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
    }

    /// The filters `jobs list` and `jobs export` share.
    struct Filters: ParsableArguments {
        @Option(help: "Only jobs in this status (QUEUED, ACTIVE, COMPLETED, FAILED, SKIPPED).") var status: JobStatus?
        @Option(help: "Only jobs of this customer (external ref).") var customer: String?
        @Option(help: "Only jobs whose result reason is this (outcome_unknown, reported, lease_expired, cancelled, …).")
        var reason: String?
        @Option(help: "Only jobs whose result outcome is this (ANSWERED, NO_ANSWER, BUSY, VOICEMAIL, REJECTED, FAILED).")
        var outcome: CallOutcome?
        @Option(help: "Only jobs changed at or after this RFC 3339 time.") var since: String?
        @Option(help: "Only jobs changed before this RFC 3339 time.") var until: String?
        @Option(help: "Only jobs of this campaign.") var campaign: String?

        func params(limit: Int, cursor: String?) -> ListJobs.Params {
            ListJobs.Params(
                status: self.status, customerRef: self.customer, limit: limit, cursor: cursor, updatedSince: self.since,
                updatedBefore: self.until, reason: self.reason, outcome: self.outcome, campaign: self.campaign)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jobs, newest first.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: Filters
        @Option(help: "Jobs per page (1…1000).") var limit: Int = 50
        @Option(help: "Continue after this cursor (printed under a full page).") var cursor: String?

        func run() async throws {
            let p = self.filters.params(limit: self.limit, cursor: self.cursor)
            let r = try await self.global.withClient(readOnly: true) { try await $0.call(ListJobs.self, p) }
            if self.global.json { return self.global.printJSON(r) }
            var rows = [["ID", "QUEUE JOB ID", "CAMPAIGN", "CUSTOMER", "STATUS", "ATTEMPTS", "UPDATED", "RESULT"]]
            for j in r.jobs {
                let status = j.phase.map { "\(j.status.rawValue)/\($0.rawValue)" } ?? j.status.rawValue
                rows.append([
                    String(j.id), j.queueJobId, j.campaign, j.customerRef ?? String(j.customerId), status,
                    "\(j.attemptsMade)/\(j.maxAttempts)", j.updatedAt, Jobs.summary(j.result),
                ])
            }
            print(Output.table(rows))
            if let c = r.nextCursor { print("more: --cursor \(c)") }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write every job the filters select as CSV, newest first.",
            discussion: "Pages through jobs.list 1,000 at a time on one connection. result is its JSON text.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: Filters
        @Option(help: "Write to this file (default: standard output).") var output: String?

        static let header = [
            "id", "queue_job_id", "campaign", "customer_ref", "customer_id", "status", "phase", "attempts_made", "max_attempts",
            "priority", "reason", "outcome", "result_reason", "enqueued_at", "run_at", "started_at", "completed_at",
            "failed_at", "updated_at", "result",
        ]

        static func row(_ j: JobView) -> [String] {
            [
                String(j.id), j.queueJobId, j.campaign, j.customerRef ?? "", String(j.customerId), j.status.rawValue,
                j.phase?.rawValue ?? "", String(j.attemptsMade), String(j.maxAttempts), String(j.priority), j.reason ?? "",
                j.result?["outcome"]?.stringValue ?? "", j.result?["reason"]?.stringValue ?? "", j.enqueuedAt, j.runAt,
                j.startedAt ?? "", j.completedAt ?? "", j.failedAt ?? "", j.updatedAt, j.result.map(Calls.Export.jsonText) ?? "",
            ]
        }

        func run() async throws {
            let filters = self.filters
            let n = try await CSVExport.write(to: self.output, header: Self.header, global: self.global) { client, cursor in
                let page = try await client.call(ListJobs.self, filters.params(limit: 1000, cursor: cursor))
                return (page.jobs.map(Self.row), page.nextCursor)
            }
            FileHandle.standardError.write(Data("exported \(n) job\(n == 1 ? "" : "s")\n".utf8))
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job with its call logs.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Job id, or queue job id with --queue-job-id.") var id: String
        @Flag(help: "Treat the argument as a queue job id.") var queueJobId = false

        func run() async throws {
            let p: GetJob.Params
            if self.queueJobId {
                p = .init(queueJobId: self.id)
            } else {
                guard let n = Int64(self.id) else { throw ValidationError("job id must be a number (or use --queue-job-id)") }
                p = .init(id: n)
            }
            let r = try await self.global.withClient(readOnly: true) { try await $0.call(GetJob.self, p) }
            if self.global.json { return self.global.printJSON(r) }
            let j = r.job
            print("job \(j.id)  \(j.queueJobId)  campaign \(j.campaign)  customer \(j.customerRef ?? String(j.customerId))")
            print("status \(j.status.rawValue)\(j.phase.map { "/" + $0.rawValue } ?? "")  attempts \(j.attemptsMade)/\(j.maxAttempts)  reason \(j.reason ?? "-")")
            print("enqueued \(j.enqueuedAt)  run at \(j.runAt)  started \(j.startedAt ?? "-")  completed \(j.completedAt ?? "-")  failed \(j.failedAt ?? "-")")
            if let lease = j.leaseOwner { print("lease \(lease) until \(j.leaseExpiresAt ?? "?")") }
            if let next = Jobs.nextAttempt(j) { print(next) }
            print("result \(Jobs.summary(j.result))")
            if !r.callLogs.isEmpty {
                var rows = [["ATTEMPT", "AGENT", "PROVIDER", "OUTCOME", "DURATION", "STARTED", "KEY"]]
                for c in r.callLogs {
                    rows.append([
                        String(c.attempt), c.agent, c.provider, c.outcome.rawValue,
                        c.durationMs.map { "\($0) ms" } ?? "-", c.startedAt ?? "-", c.idempotencyKey,
                    ])
                }
                print(Output.table(rows))
            }
        }
    }

    struct Enqueue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enqueue one job per customer.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Customer external refs.") var customers: [String] = []
        @Option(help: "A file with one customer external ref per line ('-' for stdin).") var file: String?
        @Option(help: "Why the jobs are enqueued (stored as the job's reason).") var reason: String = "manual"
        @Option(help: "Attempts budget per job (default: the automation setting).") var maxAttempts: Int?
        @Option(help: "Priority; higher runs first.") var priority: Int?
        @Option(help: "Idempotency prefix: job ids become PREFIX:REF, so running the command twice enqueues once.")
        var idempotencyPrefix: String?
        @Option(help: "The campaign of the jobs (default: the default campaign).") var campaign: String?

        func run() async throws {
            var refs = self.customers
            if let file = self.file { refs += try Jobs.refs(fromFile: file) }
            guard !refs.isEmpty else { throw ValidationError("name customers as arguments or with --file") }
            let items = refs.map { ref in
                EnqueueItem(
                    customerRef: ref, queueJobId: self.idempotencyPrefix.map { "\($0):\(ref)" },
                    reason: self.reason, priority: self.priority, maxAttempts: self.maxAttempts, campaign: self.campaign)
            }
            let total = try await self.global.withClient { client in
                var total = EnqueueJobs.Result(enqueued: 0, existing: 0, rejected: [], jobIds: [])
                var offset = 0
                for chunk in items.chunked(1000) {
                    let r = try await client.call(EnqueueJobs.self, .init(jobs: Array(chunk)))
                    total.enqueued += r.enqueued
                    total.existing += r.existing
                    total.rejected += r.rejected.map { ItemError(index: $0.index + offset, ref: $0.ref, reason: $0.reason) }
                    total.jobIds += r.jobIds
                    offset += chunk.count
                }
                return total
            }
            if self.global.json { return self.global.printJSON(total) }
            for e in total.rejected { FileHandle.standardError.write(Data("\(e.ref ?? "#\(e.index)"): \(e.reason)\n".utf8)) }
            print("enqueued \(total.enqueued), already there \(total.existing), rejected \(total.rejected.count)")
            if !total.rejected.isEmpty { throw ExitCode(1) }
        }
    }

    struct Tally: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count jobs by status and outcome.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only jobs of this campaign.") var campaign: String?

        func run() async throws {
            let p = CampaignParam(campaign: self.campaign)
            let t = try await self.global.withClient(readOnly: true) { try await $0.call(TallyJobs.self, p) }
            if self.global.json { return self.global.printJSON(t) }
            var rows = [["STATUS", "COUNT"]]
            for s in JobStatus.allCases { rows.append([s.rawValue, String(t.byStatus[s])]) }
            rows.append(["total", String(t.byStatus.total)])
            print(Output.table(rows))
            print("")
            var detail = [["STATUS/OUTCOME", "COUNT"]]
            for (k, v) in t.byOutcome.sorted(by: { $0.key < $1.key }) { detail.append([k, String(v)]) }
            print(Output.table(detail))
            print("\ncalls placed (call logs): \(t.callLogs)")
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put FAILED or SKIPPED jobs back in the queue, due now, with more attempts.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Job ids.") var ids: [Int64]
        @Option(help: "Further attempts allowed (the budget is extended: maxAttempts = attemptsMade + N).")
        var attempts: Int = 1

        func run() async throws {
            let p = RetryJobs.Params(ids: self.ids, attempts: self.attempts)
            let r = try await self.global.withClient { try await $0.call(RetryJobs.self, p) }
            try Jobs.report(r, verb: "retried", global: self.global)
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel QUEUED or ACTIVE jobs (they become SKIPPED \"cancelled\").")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Job ids.") var ids: [Int64]

        func run() async throws {
            let p = CancelJobs.Params(ids: self.ids)
            let r = try await self.global.withClient { try await $0.call(CancelJobs.self, p) }
            try Jobs.report(r, verb: "cancelled", global: self.global)
        }
    }

    struct Reconcile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask for FAILED outcome_unknown jobs to be looked up at the provider now (jobs.reconcileNow).",
            discussion: """
                The next agent whose placer can look calls up asks the provider what became of each call \
                (it never creates one): a known end lands as the call's report, the provider's "no such call" \
                queues the job again once; an answer that says nothing leaves the job as it is and it is asked \
                again, for reconcileWindowSeconds (at least an hour) from now.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Job ids.") var ids: [Int64]

        func run() async throws {
            let p = ReconcileJobsNow.Params(ids: self.ids)
            let r = try await self.global.withClient { try await $0.call(ReconcileJobsNow.self, p) }
            try Jobs.report(r, verb: "to look up", global: self.global)
        }
    }

    static func report(_ r: AdminChangeResult, verb: String, global: GlobalOptions) throws {
        if global.json { return global.printJSON(r) }
        for x in r.rejected {
            FileHandle.standardError.write(Data("job \(x.id): \(x.code)\(x.status.map { " (\($0.rawValue))" } ?? "")\n".utf8))
        }
        print("\(verb) \(r.changed.count), refused \(r.rejected.count)")
        if !r.rejected.isEmpty { throw ExitCode(1) }
    }

    /// When and why a QUEUED job's next attempt is due, in words; nil for other jobs.
    static func nextAttempt(_ j: JobView) -> String? {
        guard j.status == .queued else { return nil }
        let which = "attempt \(j.attemptsMade + 1) of \(j.maxAttempts)"
        let why: String
        switch (j.result?["deferred"], j.result?["retry"]) {
        case (.bool(true)?, _):
            why = "deferred by the pre-dial check (\(j.result?["reason"]?.stringValue ?? "a rule")), this attempt given back"
        case (_, .bool(true)?):
            let after = j.result?["outcome"]?.stringValue ?? j.result?["error"]?.stringValue ?? "a retryable failure"
            why = "a retry after \(after)"
        default:
            why = j.attemptsMade == 0 ? "its first attempt" : "requeued (\(j.result?["reason"]?.stringValue ?? "lease ended before dialing"))"
        }
        return "next: \(which) due \(j.runAt): \(why)"
    }

    static func summary(_ result: JSONValue?) -> String {
        guard case .object(let o)? = result else { return "-" }
        return o.keys.sorted().compactMap { k in
            switch o[k]! {
            case .string(let s): return "\(k)=\(s)"
            case .bool(let b): return "\(k)=\(b)"
            case .int(let i): return "\(k)=\(i)"
            default: return nil
            }
        }.joined(separator: " ")
    }
}

extension Array {
    func chunked(_ size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: self.count, by: size).map { self[$0..<Swift.min($0 + size, self.count)] }
    }
}

