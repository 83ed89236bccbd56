import ArgumentParser
import CSV
import CampaignProtocol
import CampaignRPC
import Foundation

struct SuppressionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suppressions",
        abstract: "The suppression list: numbers no campaign calls.",
        subcommands: [Add.self, Remove.self, List.self, Import.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Suppress numbers (recorded with your uid).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "International numbers (E.164 or with spaces, dashes, a leading 00).") var phones: [String]
        @Option(help: "Why.") var reason: String = "manual"
        @Option(help: "Where it came from.") var source: String = "campaign-ctl"
        @Option(help: "Until when (RFC 3339); default: for good.") var expiresAt: String?

        func run() async throws {
            let entries = self.phones.map {
                SuppressionInput(phone: $0, reason: self.reason, source: self.source, expiresAt: self.expiresAt)
            }
            let r = try await self.global.withClient { try await $0.call(AddSuppressions.self, .init(suppressions: entries)) }
            if self.global.json { return self.global.printJSON(r) }
            for e in r.rejected { FileHandle.standardError.write(Data("\(e.ref ?? "?"): \(e.reason)\n".utf8)) }
            print("\(r.added) added, \(r.updated) updated, \(r.rejected.count) rejected")
            if !r.rejected.isEmpty { throw ExitCode(1) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take numbers off the list (recorded with your uid).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The numbers.") var phones: [String]

        func run() async throws {
            let r = try await self.global.withClient { try await $0.call(RemoveSuppressions.self, .init(phones: self.phones)) }
            if self.global.json { return self.global.printJSON(r) }
            print("\(r.removed) removed")
            if !r.notFound.isEmpty { print("not on the list: \(r.notFound.joined(separator: " "))") }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List suppressed numbers in number order, or look one up.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this number.") var phone: String?
        @Option(help: "Numbers per page (1…1000).") var limit: Int = 50
        @Option(help: "Continue after this cursor.") var cursor: String?

        func run() async throws {
            let p = ListSuppressions.Params(phone: self.phone, limit: self.limit, cursor: self.cursor)
            let r = try await self.global.withClient(readOnly: true) { try await $0.call(ListSuppressions.self, p) }
            if self.global.json { return self.global.printJSON(r) }
            if r.suppressions.isEmpty, let phone = self.phone {
                print("\(phone) is not suppressed")
                return
            }
            var rows = [["PHONE", "REASON", "SOURCE", "ADDED", "BY", "EXPIRES"]]
            for s in r.suppressions {
                rows.append([s.phone, s.reason, s.source, s.addedAt, s.addedBy, s.expiresAt ?? "never"])
            }
            print(Output.table(rows))
            if let c = r.nextCursor { print("more: --cursor \(c)") }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Suppress the numbers of a CSV file (a do-not-call list), with progress.",
            discussion: """
                A header row naming phone (or phone_number, number) and optionally reason, source and \
                expires_at. Without a source column, the file's name is the source. Bad rows are \
                reported with their row number and never stop the rest.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The CSV file ('-' for stdin).") var file: String
        @Option(help: "The reason of rows that name none.") var reason: String = "do-not-call list"
        @Option(help: "Rows per request.") var batchSize: Int = 5000

        func validate() throws {
            guard (1...10_000).contains(self.batchSize) else { throw ValidationError("--batch-size must be 1…10000") }
        }

        func run() async throws {
            let parsed: (rows: [(line: Int, entry: SuppressionInput)], errors: [ItemError])
            do {
                parsed = try Self.read(self.file, reason: self.reason)
            } catch let e as CtlError {
                Output.fail(e.message)
            }
            let interactive = isatty(2) != 0 && !self.global.json
            let started = Date()
            let rows = parsed.rows
            let batchSize = self.batchSize
            let summary = try await self.global.withClient { client in
                var s = AddSuppressions.Result(added: 0, updated: 0, rejected: [])
                var done = 0
                for chunk in rows.chunked(batchSize) {
                    let r = try await client.call(AddSuppressions.self, .init(suppressions: chunk.map(\.entry)))
                    s.added += r.added
                    s.updated += r.updated
                    s.rejected += r.rejected.map {
                        ItemError(index: chunk[chunk.startIndex + $0.index].line, ref: $0.ref, reason: $0.reason)
                    }
                    done += chunk.count
                    if interactive { Progress.draw(done: done, total: rows.count) }
                }
                if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
                return s
            }
            let rejected = (parsed.errors + summary.rejected).sorted { $0.index < $1.index }
            if self.global.json {
                return self.global.printJSON(AddSuppressions.Result(added: summary.added, updated: summary.updated, rejected: rejected))
            }
            for e in rejected.prefix(100) {
                FileHandle.standardError.write(Data("row \(e.index)\(e.ref.map { " (\($0))" } ?? ""): \(e.reason)\n".utf8))
            }
            if rejected.count > 100 { FileHandle.standardError.write(Data("… and \(rejected.count - 100) more\n".utf8)) }
            let secs = String(format: "%.1f", Date().timeIntervalSince(started))
            print("suppressed \(summary.added + summary.updated) of \(rows.count + parsed.errors.count) rows in \(secs)s: \(summary.added) new, \(summary.updated) updated, \(rejected.count) rejected")
        }

        /// The rows of a suppression CSV, numbered as in the file (the header is row 1).
        static func read(_ path: String, reason: String) throws -> (rows: [(line: Int, entry: SuppressionInput)], errors: [ItemError]) {
            let reader: CSVReader
            do {
                reader = try CSVReader(stream: try CustomerFile.open(path), hasHeaderRow: true, trimFields: true)
            } catch let e as CtlError {
                throw e
            } catch {
                throw CtlError(message: "\(path): not a readable CSV file (\(error))")
            }
            let header = (reader.headerRow ?? []).map { $0.lowercased().replacingOccurrences(of: "-", with: "_") }
            func col(_ names: String...) -> Int? { names.lazy.compactMap { header.firstIndex(of: $0) }.first }
            guard let phoneCol = col("phone", "phone_number", "number") else {
                throw CtlError(message: "\(path): the header must name phone (found: \(header.joined(separator: ",")))")
            }
            let reasonCol = col("reason")
            let sourceCol = col("source")
            let expiresCol = col("expires_at", "expires")
            let fileName = path == "-" ? "stdin" : URL(fileURLWithPath: path).lastPathComponent
            var rows: [(line: Int, entry: SuppressionInput)] = []
            var errors: [ItemError] = []
            var line = 1
            while let row = reader.next() {
                line += 1
                if row.allSatisfy({ $0.isEmpty }) { continue }
                func field(_ i: Int?) -> String? { i.flatMap { $0 < row.count && !row[$0].isEmpty ? row[$0] : nil } }
                guard let phone = field(phoneCol) else {
                    errors.append(ItemError(index: line, ref: nil, reason: "no phone"))
                    continue
                }
                rows.append((line, SuppressionInput(
                    phone: phone, reason: field(reasonCol) ?? reason, source: field(sourceCol) ?? fileName,
                    expiresAt: field(expiresCol))))
            }
            if let error = reader.error {
                if case .cannotReadFile = error as? CSVError {} else {
                    throw CtlError(message: "\(path): CSV error after row \(line): \(error)")
                }
            }
            return (rows, errors)
        }
    }
}
