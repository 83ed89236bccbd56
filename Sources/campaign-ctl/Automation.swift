import ArgumentParser
import CampaignProtocol
import CampaignRPC
import Foundation

struct Automation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show and change automation settings, and run the automatic enqueue.",
        subcommands: [Show.self, Set.self, Enable.self, Disable.self, Run.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the automation settings.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The campaign (default: the default campaign).") var campaign: String?

        func run() async throws {
            let p = CampaignParam(campaign: self.campaign)
            let s = try await self.global.withClient(readOnly: true) { try await $0.call(GetAutomation.self, p) }
            if self.global.json { return self.global.printJSON(s) }
            Automation.print(s)
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change settings: KEY=VALUE …",
            discussion: "Keys: \(AutomationSettings.keys.joined(separator: ", ")). Values are JSON "
                + "(numbers, true/false, [1,2,3]); anything else is a string; workingDays also takes 1,2,3,4,5; "
                + #"windows takes '[{"days":[1,2,3,4,5],"start":"09:00","end":"12:00"}, …]'."#)
        @OptionGroup var global: GlobalOptions
        @Option(help: "The campaign (default: the default campaign).") var campaign: String?
        @Argument(help: "KEY=VALUE pairs.") var pairs: [String]

        func run() async throws {
            try await Automation.apply(try Automation.values(self.pairs), campaign: self.campaign, global: self.global)
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Turn the automatic enqueue on.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The campaign (default: the default campaign).") var campaign: String?
        func run() async throws { try await Automation.apply(["enabled": true], campaign: self.campaign, global: self.global) }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Turn the automatic enqueue off (jobs already leased finish).")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The campaign (default: the default campaign).") var campaign: String?
        func run() async throws { try await Automation.apply(["enabled": false], campaign: self.campaign, global: self.global) }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enqueue every eligible customer now, up to today's cap.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Count only: enqueue nothing.") var dryRun = false
        @Option(help: "The campaign (default: the default campaign).") var campaign: String?

        func run() async throws {
            let p = RunAutomation.Params(dryRun: self.dryRun, campaign: self.campaign)
            let r = try await self.global.withClient { try await $0.call(RunAutomation.self, p) }
            if self.global.json { return self.global.printJSON(r) }
            Swift.print("\(r.dryRun ? "dry run" : "run") of \(r.campaign ?? CampaignName.default) for \(r.date): considered \(r.considered), eligible \(r.eligible), enqueued \(r.enqueued), cap remaining \(r.capRemaining)")
            var rows = [["LEFT OUT", "COUNT"]]
            for (k, v) in r.leftOut.sorted(by: { $0.key < $1.key }) where v > 0 { rows.append([k, String(v)]) }
            if rows.count > 1 { Swift.print(Output.table(rows)) }
        }
    }

    static func apply(_ values: [String: JSONValue], campaign: String? = nil, global: GlobalOptions) async throws {
        let s = try await global.withClient { try await $0.call(SetAutomation.self, .init(values, campaign: campaign)) }
        if global.json { return global.printJSON(s) }
        Automation.print(s)
    }

    /// `KEY=VALUE` pairs as a settings object.
    static func values(_ pairs: [String]) throws -> [String: JSONValue] {
        var values: [String: JSONValue] = [:]
        for pair in pairs {
            let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2 else { throw ValidationError("expected KEY=VALUE, got \(pair)") }
            values[kv[0]] = Automation.value(kv[1], key: kv[0])
        }
        return values
    }

    /// A command-line value as JSON: numbers, booleans and arrays as such, `1,2,3` as an array,
    /// anything else as a string.
    static func value(_ text: String, key: String = "") -> JSONValue {
        if let v = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) { return v }
        // Dates are a list of strings: 2026-12-25,2027-01-01.
        if key == "blackoutDates" { return .array(text.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }) }
        let parts = text.split(separator: ",").map { Int64($0.trimmingCharacters(in: .whitespaces)) }
        if parts.count > 1, parts.allSatisfy({ $0 != nil }) { return .array(parts.map { .int($0!) }) }
        return .string(text)
    }

    static func print(_ s: AutomationSettings) {
        var rows = [["SETTING", "VALUE"]]
        for (k, v) in s.asObject().sorted(by: { $0.key < $1.key }) {
            let text: String
            switch v {
            case .string(let x): text = x
            case .bool(let b): text = String(b)
            case .int(let i): text = String(i)
            case .double(let d): text = String(d)
            case .array(let a) where a.allSatisfy({ $0.intValue != nil }):
                text = a.compactMap { $0.intValue.map(String.init) }.joined(separator: ",")
            case .array(let a) where a.allSatisfy({ $0.stringValue != nil }):
                text = a.compactMap(\.stringValue).joined(separator: ",")
            case .array: text = v.jsonText  // windows: the objects as JSON
            default: text = v.jsonText  // retry, retention: the object as JSON
            }
            rows.append([k, text])
        }
        Swift.print(Output.table(rows))
    }
}
