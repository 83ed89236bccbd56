import ArgumentParser
import CSV
import CampaignCore
import CampaignProtocol
import CampaignRPC
import Foundation

struct Customers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import, list and show customers; say why one is not called now.",
        subcommands: [Import.self, List.self, Get.self, Why.self])

    struct Why: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Why is this customer not called now? Every rule's verdict and the next instant a call is allowed.",
            discussion: """
                The pre-dial check's own rules (status, suppression, consent, the campaign's windows and the \
                law's hours where the customer is, cooldown, the number's caps, open job, today's automatic \
                job, the daily cap), judged for one campaign at one instant.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "External ref (or id with --id).") var ref: String
        @Flag(help: "Treat the argument as the numeric id.") var id = false
        @Option(help: "The campaign (default: default).") var campaign: String?
        @Option(help: "Judge at this instant (RFC 3339) instead of now.") var at: String?

        func run() async throws {
            var p = ExplainCustomer.Params(campaign: self.campaign, at: self.at)
            if self.id {
                guard let n = Int64(self.ref) else { throw ValidationError("id must be a number") }
                p.id = n
            } else {
                p.externalRef = self.ref
            }
            let params = p
            let r = try await self.global.withClient(readOnly: true) { try await $0.call(ExplainCustomer.self, params) }
            if self.global.json { return self.global.printJSON(r) }
            print(Self.text(r))
        }

        static func text(_ r: ExplainCustomer.Result) -> String {
            var lines = ["customer \(r.externalRef) (\(r.customerId)) in campaign \(r.campaign) at \(r.at)"]
            var rows = [["", "RULE", "WHAT IT SAW"]]
            for v in r.rules { rows.append([v.passed ? "ok" : "NO", v.rule, v.detail]) }
            lines.append(Output.table(rows))
            let law = r.jurisdiction.isEmpty ? "no rule applies" : r.jurisdiction.joined(separator: ", ")
            lines.append("law: \(law) (rules \(r.rulesVersion))")
            lines.append("automation.run: " + (r.runReason.map { "left out (\($0))" } ?? "would enqueue (cap permitting)"))
            switch r.dial {
            case "allowed": lines.append("pre-dial check: allowed now")
            case "deferred": lines.append("pre-dial check: deferred (\(r.dialRule ?? "?")) until \(r.nextAllowedAt ?? "?")")
            default: lines.append("pre-dial check: refused (\(r.dialRule ?? "?")): not by waiting")
            }
            return lines.joined(separator: "\n")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List customers in id order.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Only customers in this status (ACTIVE, OPTED_OUT, DO_NOT_CALL, CONVERTED, INVALID_NUMBER).")
        var status: String?
        @Option(help: "Customers per page (1…1000).") var limit: Int = 50
        @Option(help: "Continue after this cursor.") var cursor: String?

        func run() async throws {
            var status: CustomerStatus?
            if let s = self.status {
                guard let parsed = CustomerStatus(rawValue: s.uppercased()) else { throw ValidationError("unknown status \(s)") }
                status = parsed
            }
            let p = ListCustomers.Params(status: status, limit: self.limit, cursor: self.cursor)
            let r = try await self.global.withClient(readOnly: true) { try await $0.call(ListCustomers.self, p) }
            if self.global.json { return self.global.printJSON(r) }
            var rows = [["ID", "REF", "NAME", "STATUS", "TIMEZONE", "LAST CALLED"]]
            for c in r.customers {
                rows.append([String(c.id), c.externalRef, c.name, c.status.rawValue, c.timezone, c.lastCalledAt ?? "-"])
            }
            print(Output.table(rows))
            if let c = r.nextCursor { print("more: --cursor \(c)") }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one customer (by external ref, or id with --id).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "External ref (or id with --id).") var ref: String
        @Flag(help: "Treat the argument as the numeric id.") var id = false

        func run() async throws {
            let p: GetCustomer.Params
            if self.id {
                guard let n = Int64(self.ref) else { throw ValidationError("id must be a number") }
                p = .init(id: n)
            } else {
                p = .init(externalRef: self.ref)
            }
            let c = try await self.global.withClient(readOnly: true) { try await $0.call(GetCustomer.self, p) }
            if self.global.json { return self.global.printJSON(c) }
            // The phone number is shown to the operator who asked for this customer; it is never logged.
            print("customer \(c.id)  \(c.externalRef)  \(c.name)")
            print("phone \(c.phone)  timezone \(c.timezone)  status \(c.status.rawValue)  last called \(c.lastCalledAt ?? "-")")
            print("attributes \(Jobs.summary(c.attributes))  created \(c.createdAt)  updated \(c.updatedAt)")
            let law = c.jurisdiction.isEmpty ? "no rule of the law's table" : c.jurisdiction.joined(separator: ", ")
            print("region \(c.region ?? "-")  jurisdiction \(law)")
            if let k = c.consent {
                print("consent \(k.basis) obtained \(k.obtainedAt)\(k.source.map { " from \($0)" } ?? "")\(k.proof.map { "  proof: \($0)" } ?? "")")
            } else {
                print("consent none on record")
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import customers from CSV or JSON Lines (upsert by external ref).",
            discussion: """
                CSV: a header row naming external_ref, phone, timezone and optionally name, status, region
                (ISO 3166-2, e.g. US-FL) and consent_basis, consent_obtained_at, consent_source, consent_proof;
                other columns become string attributes. JSON Lines: one object per line with externalRef, phone,
                timezone and optionally name, status, attributes, region, consent. A row without a consent keeps
                the one on record. Bad rows are reported with their row number and reason and never stop the rest.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The file to import ('-' for stdin).") var file: String
        @Option(help: "csv or jsonl (default: from the file name, else csv).") var format: String?
        @Option(help: "Rows per request.") var batchSize: Int = 1000
        @Option(help: "Also list the imported customers as members of this campaign.") var campaign: String?

        func validate() throws {
            guard (1...10_000).contains(self.batchSize) else { throw ValidationError("--batch-size must be 1…10000") }
            if let f = self.format, f != "csv", f != "jsonl" { throw ValidationError("--format must be csv or jsonl") }
        }

        func run() async throws {
            let format = self.format ?? (self.file.hasSuffix(".jsonl") || self.file.hasSuffix(".ndjson") ? "jsonl" : "csv")
            let parsed: ParsedRows
            do {
                parsed = try format == "jsonl" ? CustomerFile.jsonLines(self.file) : CustomerFile.csv(self.file)
            } catch let e as CtlError {
                Output.fail(e.message)
            }
            let rows = parsed.rows
            let batchSize = self.batchSize
            let interactive = isatty(2) != 0 && !self.global.json
            let started = Date()
            let campaign = self.campaign
            let outcome = try await self.global.withClient { client in
                var s = UpsertCustomers.Result(inserted: 0, updated: 0, rejected: [])
                var members = 0
                var done = 0
                // A batch too large for one request line is split in halves until it fits.
                var queue = rows.chunked(batchSize)
                while !queue.isEmpty {
                    let chunk = queue.removeFirst()
                    let r: UpsertCustomers.Result
                    do {
                        r = try await client.call(UpsertCustomers.self, .init(customers: chunk.map(\.customer)))
                    } catch let e as RPCError where e.symbol == RPCErrorCode.limitExceeded.name && chunk.count > 1 {
                        let mid = chunk.startIndex + chunk.count / 2
                        queue.insert(contentsOf: [chunk[chunk.startIndex..<mid], chunk[mid...]], at: 0)
                        continue
                    }
                    s.inserted += r.inserted
                    s.updated += r.updated
                    if let campaign {
                        // The rows written (not the rejected ones) become the campaign's members.
                        let bad = Set(r.rejected.map(\.index))
                        let refs = chunk.indices.filter { !bad.contains($0 - chunk.startIndex) }.map { chunk[$0].customer.externalRef }
                        if !refs.isEmpty {
                            members = try await client.call(AddCampaignMembers.self, .init(name: campaign, customerRefs: refs)).members
                        }
                    }
                    // Map request indexes back to the file's row numbers.
                    s.rejected += r.rejected.map {
                        ItemError(index: chunk[chunk.startIndex + $0.index].line, ref: $0.ref, reason: $0.reason)
                    }
                    done += chunk.count
                    if interactive { Progress.draw(done: done, total: rows.count) }
                }
                if interactive { FileHandle.standardError.write(Data("\n".utf8)) }
                return (s, members)
            }
            let (summary, members) = (outcome.0, outcome.1)
            let rejected = (parsed.errors + summary.rejected).sorted { $0.index < $1.index }
            if self.global.json {
                return self.global.printJSON(
                    UpsertCustomers.Result(inserted: summary.inserted, updated: summary.updated, rejected: rejected))
            }
            for e in rejected.prefix(100) {
                FileHandle.standardError.write(Data("row \(e.index)\(e.ref.map { " (\($0))" } ?? ""): \(e.reason)\n".utf8))
            }
            if rejected.count > 100 { FileHandle.standardError.write(Data("… and \(rejected.count - 100) more\n".utf8)) }
            let secs = String(format: "%.1f", Date().timeIntervalSince(started))
            print("imported \(summary.inserted + summary.updated) of \(rows.count + parsed.errors.count) rows in \(secs)s: \(summary.inserted) new, \(summary.updated) updated, \(rejected.count) rejected")
            if let campaign = self.campaign { print("campaign \(campaign) has \(members) members") }
        }
    }
}

struct NumberedCustomer: Sendable {
    var line: Int
    var customer: CustomerInput
}

struct ParsedRows {
    var rows: [NumberedCustomer] = []
    /// Rows that could not even be read (index = row number).
    var errors: [ItemError] = []
}

enum CustomerFile {
    static func open(_ path: String) throws -> InputStream {
        if path == "-" {
            return InputStream(data: FileHandle.standardInput.readDataToEndOfFile())
        }
        guard FileManager.default.isReadableFile(atPath: path), let s = InputStream(fileAtPath: path) else {
            throw CtlError(message: "cannot read \(path)")
        }
        return s
    }

    static func csv(_ path: String) throws -> ParsedRows {
        let reader: CSVReader
        do {
            reader = try CSVReader(stream: try self.open(path), hasHeaderRow: true, trimFields: true)
        } catch let e as CtlError {
            throw e
        } catch {
            throw CtlError(message: "\(path): not a readable CSV file (\(error))")
        }
        let header = (reader.headerRow ?? []).map { $0.lowercased().replacingOccurrences(of: "-", with: "_") }
        func col(_ names: String...) -> Int? { names.lazy.compactMap { header.firstIndex(of: $0) }.first }
        guard let refCol = col("external_ref", "externalref", "ref", "id"), let phoneCol = col("phone", "phone_number"),
            let tzCol = col("timezone", "time_zone", "tz")
        else {
            throw CtlError(message: "\(path): the header must name external_ref, phone and timezone (found: \(header.joined(separator: ",")))")
        }
        let nameCol = col("name")
        let statusCol = col("status")
        let regionCol = col("region")
        let consentCols = (basis: col("consent_basis"), at: col("consent_obtained_at"), source: col("consent_source"),
                           proof: col("consent_proof"))
        let known = Set([refCol, phoneCol, tzCol, nameCol, statusCol, regionCol, consentCols.basis, consentCols.at,
                         consentCols.source, consentCols.proof].compactMap { $0 })
        var out = ParsedRows()
        var rowNumber = 1  // the header is row 1
        while let row = reader.next() {
            rowNumber += 1
            if row.allSatisfy({ $0.isEmpty }) { continue }
            func field(_ i: Int?) -> String? { i.flatMap { $0 < row.count ? row[$0] : nil } }
            var status: CustomerStatus?
            if let s = field(statusCol), !s.isEmpty {
                guard let parsed = CustomerStatus(rawValue: s.uppercased()) else {
                    out.errors.append(ItemError(index: rowNumber, ref: field(refCol), reason: "unknown status \"\(s)\""))
                    continue
                }
                status = parsed
            }
            var attributes: [String: JSONValue] = [:]
            for (i, name) in header.enumerated() where !known.contains(i) && i < row.count && !row[i].isEmpty {
                attributes[name] = .string(row[i])
            }
            out.rows.append(NumberedCustomer(
                line: rowNumber,
                customer: CustomerInput(
                    externalRef: field(refCol) ?? "", name: field(nameCol), phone: field(phoneCol) ?? "",
                    timezone: field(tzCol) ?? "", status: status,
                    attributes: attributes.isEmpty ? nil : .object(attributes),
                    region: field(regionCol).flatMap { $0.isEmpty ? nil : $0 },
                    consent: field(consentCols.basis).flatMap { basis in
                        // A row with no basis has no consent (what is stored is kept).
                        basis.isEmpty ? nil : Consent(
                            basis: basis, obtainedAt: field(consentCols.at) ?? "",
                            source: field(consentCols.source).flatMap { $0.isEmpty ? nil : $0 },
                            proof: field(consentCols.proof).flatMap { $0.isEmpty ? nil : $0 })
                    })))
        }
        // CSV.swift reports the end of a file stream as `cannotReadFile` (Foundation's InputStream
        // on Linux says it has bytes until a read returns 0); any other error is real.
        if let error = reader.error {
            if case .cannotReadFile = error as? CSVError {} else {
                throw CtlError(message: "\(path): CSV error after row \(rowNumber): \(error)")
            }
        }
        return out
    }

    static func jsonLines(_ path: String) throws -> ParsedRows {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let d = FileManager.default.contents(atPath: path) else { throw CtlError(message: "cannot read \(path)") }
            data = d
        }
        var out = ParsedRows()
        let decoder = JSONDecoder()
        for (i, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            do {
                out.rows.append(NumberedCustomer(line: i + 1, customer: try decoder.decode(CustomerInput.self, from: Data(line))))
            } catch {
                out.errors.append(ItemError(index: i + 1, ref: nil, reason: "not a customer object: \(JSONCoding.describe(error))"))
            }
        }
        return out
    }
}

enum Progress {
    static func draw(done: Int, total: Int) {
        let width = 30
        let filled = total == 0 ? width : done * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        FileHandle.standardError.write(Data("\r[\(bar)] \(done)/\(total)".utf8))
    }
}
