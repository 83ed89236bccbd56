import ArgumentParser
import CSV
import CampaignCore
import CampaignProtocol
import CampaignRPC
import Foundation

struct Calls: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List and export call logs (one per placed call).", subcommands: [List.self, Export.self])

    /// The filters `calls list` and `calls export` share.
    struct Filters: ParsableArguments {
        @Option(help: "Calls at or after this RFC 3339 time (the call's start, or when it was logged).") var since: String?
        @Option(help: "Calls before this RFC 3339 time.") var until: String?
        @Option(help: "Only calls of this campaign's jobs.") var campaign: String?
        @Option(help: "Only calls with this outcome (ANSWERED, NO_ANSWER, BUSY, VOICEMAIL, REJECTED, FAILED).")
        var outcome: CallOutcome?
        @Option(help: "Only calls reported by this agent.") var agent: String?
        @Option(help: "Only calls to this customer (external ref).") var customer: String?
        @Option(help: "Only calls of this job.") var job: Int64?

        func params(limit: Int, cursor: String?) -> ListCalls.Params {
            ListCalls.Params(
                since: self.since, until: self.until, campaign: self.campaign, outcome: self.outcome, agent: self.agent,
                customerRef: self.customer, jobId: self.job, limit: limit, cursor: cursor)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List call logs, newest first.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: Filters
        @Option(help: "Calls per page (1…1000).") var limit: Int = 50
        @Option(help: "Continue after this cursor (printed under a full page).") var cursor: String?

        func run() async throws {
            let p = self.filters.params(limit: self.limit, cursor: self.cursor)
            let r = try await self.global.withClient(readOnly: true) { try await $0.call(ListCalls.self, p) }
            if self.global.json { return self.global.printJSON(r) }
            var rows = [["ID", "STARTED", "CAMPAIGN", "CUSTOMER", "JOB", "ATTEMPT", "AGENT", "OUTCOME", "DURATION"]]
            for c in r.calls {
                rows.append([
                    String(c.id), c.startedAt ?? c.createdAt ?? "-", c.campaign ?? "-", c.customerRef ?? "-", String(c.jobId),
                    String(c.attempt), c.agent, c.outcome.rawValue, c.durationMs.map { "\($0) ms" } ?? "-",
                ])
            }
            print(Output.table(rows))
            if let c = r.nextCursor { print("more: --cursor \(c)") }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write every call log the filters select as CSV, newest first.",
            discussion: "Pages through calls.list 1,000 at a time on one connection. detail is its JSON text.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var filters: Filters
        @Option(help: "Write to this file (default: standard output).") var output: String?

        static let header = [
            "id", "job_id", "attempt", "campaign", "customer_ref", "agent", "provider", "provider_call_id", "idempotency_key",
            "started_at", "ended_at", "created_at", "outcome", "duration_ms", "detail",
        ]

        static func row(_ c: CallLogView) -> [String] {
            [
                String(c.id), String(c.jobId), String(c.attempt), c.campaign ?? "", c.customerRef ?? "", c.agent, c.provider,
                c.providerCallId ?? "", c.idempotencyKey, c.startedAt ?? "", c.endedAt ?? "", c.createdAt ?? "",
                c.outcome.rawValue, c.durationMs.map(String.init) ?? "", c.detail.map(Export.jsonText) ?? "",
            ]
        }

        static func jsonText(_ v: JSONValue) -> String {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: (try? e.encode(v)) ?? Data(), as: UTF8.self)
        }

        func run() async throws {
            let filters = self.filters
            let n = try await CSVExport.write(to: self.output, header: Self.header, global: self.global) { client, cursor in
                let page = try await client.call(ListCalls.self, filters.params(limit: 1000, cursor: cursor))
                return (page.calls.map(Self.row), page.nextCursor)
            }
            FileHandle.standardError.write(Data("exported \(n) call\(n == 1 ? "" : "s")\n".utf8))
        }
    }
}

/// CSV files of whole result sets, page after page on one connection.
enum CSVExport {
    /// Writes `header`, then the rows of every page `next` answers (given the previous page's
    /// cursor) until it answers no cursor. Returns the rows written.
    static func write(
        to path: String?, header: [String], global: GlobalOptions,
        next: @escaping @Sendable (RPCClient, String?) async throws -> (rows: [[String]], cursor: String?)
    ) async throws -> Int {
        guard let stream = OutputStream(toFileAtPath: path ?? "/dev/stdout", append: false) else {
            Output.fail("cannot write \(path ?? "standard output")")
        }
        let writer = try CSVWriter(stream: stream)
        try writer.write(row: header)
        let box = WriterBox(writer)
        let total = try await global.withClient(readOnly: true) { client in
            var cursor: String?
            var total = 0
            repeat {
                let (rows, after) = try await next(client, cursor)
                try box.write(rows)
                total += rows.count
                cursor = after
            } while cursor != nil
            return total
        }
        writer.stream.close()
        return total
    }

    /// The writer, used from the one task that pages (not concurrently).
    final class WriterBox: @unchecked Sendable {
        let writer: CSVWriter
        init(_ writer: CSVWriter) { self.writer = writer }
        func write(_ rows: [[String]]) throws {
            for r in rows { try self.writer.write(row: r) }
        }
    }
}
