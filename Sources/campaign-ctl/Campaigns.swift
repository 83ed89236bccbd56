import ArgumentParser
import CampaignProtocol
import CampaignRPC
import Foundation

extension CampaignAudience: ExpressibleByArgument {}

struct Campaigns: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, show, change, pause, resume and end campaigns, and list their members.",
        subcommands: [List.self, Show.self, Create.self, Update.self, Pause.self, Resume.self, End.self, AddMembers.self,
                      RemoveMembers.self])

    /// The fields `create` and `update` share.
    struct Fields: ParsableArguments {
        @Option(help: "A title for people.") var title: String?
        @Option(help: "Its weight in the share of calls among campaigns with jobs due (1…1000, default 10).")
        var priority: Int?
        @Option(help: "all customers, or its members only.") var audience: CampaignAudience?
        @Option(help: "No call before this RFC 3339 time ('none' to clear).") var startsAt: String?
        @Option(help: "Ends by itself at this RFC 3339 time ('none' to clear).") var endsAt: String?
        @Argument(help: "Settings as KEY=VALUE, as `automation set` takes them.") var settings: [String] = []
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List campaigns.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Leave out ended campaigns.") var open = false

        func run() async throws {
            let p = ListCampaigns.Params(open: self.open)
            let r = try await self.global.withClient(readOnly: true) { try await $0.call(ListCampaigns.self, p) }
            if self.global.json { return self.global.printJSON(r) }
            var rows = [["NAME", "STATUS", "PRIORITY", "AUDIENCE", "WINDOWS", "CAP", "MAX CALLS", "AUTO", "TITLE"]]
            for c in r.campaigns {
                rows.append([
                    c.name, c.status.rawValue, String(c.priority),
                    c.audience == .members ? "members (\(c.members))" : "all", Campaigns.windows(c.settings),
                    String(c.settings.dailyCap), String(c.settings.maxConcurrentCalls), c.settings.enabled ? "on" : "off",
                    c.title,
                ])
            }
            Swift.print(Output.table(rows))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one campaign with its settings.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The campaign's name.") var name: String

        func run() async throws {
            let p = CampaignRef(name: self.name)
            let c = try await self.global.withClient(readOnly: true) { try await $0.call(GetCampaign.self, p) }
            if self.global.json { return self.global.printJSON(c) }
            Campaigns.print(c)
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a campaign: the default campaign's settings with KEY=VALUE changes.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The name: 1…64 of [a-z0-9-].") var name: String
        @OptionGroup var fields: Fields
        @Flag(help: "Create it paused.") var paused = false

        func run() async throws {
            let p = CreateCampaign.Params(
                name: self.name, title: self.fields.title, paused: self.paused ? true : nil,
                startsAt: Campaigns.time(self.fields.startsAt)?.value, endsAt: Campaigns.time(self.fields.endsAt)?.value,
                priority: self.fields.priority, audience: self.fields.audience,
                settings: self.fields.settings.isEmpty ? nil : try Automation.values(self.fields.settings))
            let c = try await self.global.withClient { try await $0.call(CreateCampaign.self, p) }
            if self.global.json { return self.global.printJSON(c) }
            Campaigns.print(c)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change a campaign's fields and settings.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The campaign's name.") var name: String
        @OptionGroup var fields: Fields

        func run() async throws {
            let p = UpdateCampaign.Params(
                name: self.name, title: self.fields.title, startsAt: Campaigns.time(self.fields.startsAt),
                endsAt: Campaigns.time(self.fields.endsAt), priority: self.fields.priority, audience: self.fields.audience,
                settings: self.fields.settings.isEmpty ? nil : try Automation.values(self.fields.settings))
            let c = try await self.global.withClient { try await $0.call(UpdateCampaign.self, p) }
            if self.global.json { return self.global.printJSON(c) }
            Campaigns.print(c)
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause a campaign: no new call (calls in progress finish) until it is resumed.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The campaign's name.") var name: String

        func run() async throws {
            let p = CampaignRef(name: self.name)
            let c = try await self.global.withClient { try await $0.call(PauseCampaign.self, p) }
            if self.global.json { return self.global.printJSON(c) }
            Swift.print("campaign \(c.name) is \(c.status.rawValue)")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume a paused campaign.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The campaign's name.") var name: String

        func run() async throws {
            let p = CampaignRef(name: self.name)
            let c = try await self.global.withClient { try await $0.call(ResumeCampaign.self, p) }
            if self.global.json { return self.global.printJSON(c) }
            Swift.print("campaign \(c.name) is \(c.status.rawValue)")
        }
    }

    struct End: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a campaign for good: its queued jobs are skipped (campaign_ended).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The campaign's name.") var name: String

        func run() async throws {
            let p = CampaignRef(name: self.name)
            let r = try await self.global.withClient { try await $0.call(EndCampaign.self, p) }
            if self.global.json { return self.global.printJSON(r) }
            Swift.print("campaign \(r.campaign.name) ended; \(r.skipped) queued job(s) skipped")
        }
    }

    struct AddMembers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List customers (by external ref) as members.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The campaign's name.") var name: String
        @Argument(help: "Customer external refs.") var customers: [String] = []
        @Option(help: "A file with one external ref per line ('-' for stdin).") var file: String?

        func run() async throws {
            try await Campaigns.members(self.name, self.customers, file: self.file, remove: false, global: self.global)
        }
    }

    struct RemoveMembers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take customers (by external ref) off the members.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The campaign's name.") var name: String
        @Argument(help: "Customer external refs.") var customers: [String] = []
        @Option(help: "A file with one external ref per line ('-' for stdin).") var file: String?

        func run() async throws {
            try await Campaigns.members(self.name, self.customers, file: self.file, remove: true, global: self.global)
        }
    }

    static func members(_ name: String, _ refs: [String], file: String?, remove: Bool, global: GlobalOptions) async throws {
        let refs = refs + (try file.map { try Jobs.refs(fromFile: $0) } ?? [])
        guard !refs.isEmpty else { throw ValidationError("name customers as arguments or with --file") }
        let total = try await global.withClient { client in
            var total = CampaignMembersResult(changed: 0, unchanged: 0, unknown: [], members: 0)
            for chunk in refs.chunked(ParamLimits.membersPerCall.upperBound) {
                let p = CampaignMembersParams(name: name, customerRefs: Array(chunk))
                let r = remove
                    ? try await client.call(RemoveCampaignMembers.self, p) : try await client.call(AddCampaignMembers.self, p)
                total.changed += r.changed
                total.unchanged += r.unchanged
                total.unknown += r.unknown
                total.members = r.members
            }
            return total
        }
        if global.json { return global.printJSON(total) }
        for ref in total.unknown { FileHandle.standardError.write(Data("\(ref): unknown customer\n".utf8)) }
        Swift.print("\(remove ? "removed" : "added") \(total.changed), unchanged \(total.unchanged), unknown \(total.unknown.count); \(total.members) member(s)")
        if !total.unknown.isEmpty { throw ExitCode(1) }
    }

    /// A time option: `none` clears it.
    static func time(_ text: String?) -> Nullable<String>? {
        guard let text else { return nil }
        return text == "none" ? .null : .value(text)
    }

    /// The calling windows in one line: `1-5 09:00-12:00, 6 10:00-13:00`.
    static func windows(_ s: AutomationSettings) -> String {
        if s.windows.isEmpty {
            return "\(days(s.workingDays)) \(s.workingHoursStart)-\(s.workingHoursEnd)"
        }
        return s.windows.map { "\(days($0.days)) \($0.start)-\($0.end)" }.joined(separator: ", ")
    }

    static func days(_ days: [Int]) -> String {
        let d = days.sorted()
        if d.count > 2, let first = d.first, let last = d.last, d == Array(first...last) { return "\(first)-\(last)" }
        return d.map(String.init).joined(separator: ",")
    }

    static func print(_ c: CampaignView) {
        Swift.print("campaign \(c.name)  \(c.status.rawValue)  priority \(c.priority)  audience \(c.audience.rawValue) (\(c.members) members)")
        if !c.title.isEmpty { Swift.print("title \(c.title)") }
        Swift.print("starts \(c.startsAt ?? "-")  ends \(c.endsAt ?? "-")\(c.endedAt.map { "  ended \($0) (\(c.endedReason ?? "-"))" } ?? "")")
        Swift.print("windows \(windows(c.settings))")
        Swift.print("changed \(c.updatedAt) by \(c.updatedBy)")
        Automation.print(c.settings)
    }
}
