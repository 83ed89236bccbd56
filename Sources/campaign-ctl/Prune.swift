import ArgumentParser
import CampaignProtocol

struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Delete now what the retention setting says has been kept long enough (retention.prune).",
        discussion: """
            Finished jobs (COMPLETED, SKIPPED, FAILED: by their last change), call logs (by the call's \
            time; they outlive their jobs) and events, each after its period of the `retention` \
            setting (`campaign-ctl automation set 'retention={"COMPLETED":"30d",…}'`). The leader does \
            the same by itself every hour, in small batches. --dry-run only counts.
            """)
    @OptionGroup var global: GlobalOptions

    @Flag(help: "Only say what would be deleted.")
    var dryRun = false

    func run() async throws {
        let dryRun = self.dryRun
        let r = try await self.global.withClient { try await $0.call(PruneRetention.self, .init(dryRun: dryRun)) }
        if self.global.json { return self.global.printJSON(r) }
        let verb = r.dryRun ? "would delete" : "deleted"
        let kept = r.retention
        let rows: [[String]] = [
            ["KIND", "KEPT", "OLDER THAN", r.dryRun ? "WOULD GO" : "DELETED"],
            ["COMPLETED jobs", kept.COMPLETED, r.before.COMPLETED ?? "-", String(r.deleted.COMPLETED)],
            ["SKIPPED jobs", kept.SKIPPED, r.before.SKIPPED ?? "-", String(r.deleted.SKIPPED)],
            ["FAILED jobs", kept.FAILED, r.before.FAILED ?? "-", String(r.deleted.FAILED)],
            ["call logs", kept.callLogs, r.before.callLogs ?? "-", String(r.deleted.callLogs)],
            ["events", kept.events, r.before.events ?? "-", String(r.deleted.events)],
            ["audit (refusals, suppression changes)", kept.callLogs, r.before.callLogs ?? "-", String(r.deleted.audit)],
        ]
        print(Output.table(rows))
        print("\(verb) \(r.deleted.total) row(s)")
    }
}
