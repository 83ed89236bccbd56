import ArgumentParser
import CampaignProtocol
import CampaignRPC
import Foundation

struct Automation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show and change automation settings.", subcommands: [Show.self, Set.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the automation settings.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let s = try await self.global.withClient { try await $0.call(GetAutomation.self, NoParams()) }
            if self.global.json { return self.global.printJSON(s) }
            Automation.print(s)
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change settings: KEY=VALUE … (retryBaseMs, retryFactor, retryCapMs, maxAttempts, leaseSeconds).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "KEY=VALUE pairs.") var pairs: [String]

        func run() async throws {
            var p = SetAutomation.Params()
            for pair in self.pairs {
                let kv = pair.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw ValidationError("expected KEY=VALUE, got \(pair)") }
                func int() throws -> Int {
                    guard let v = Int(kv[1]) else { throw ValidationError("\(kv[0]) must be an integer") }
                    return v
                }
                switch kv[0] {
                case "retryBaseMs": p.retryBaseMs = try int()
                case "retryFactor":
                    guard let v = Double(kv[1]) else { throw ValidationError("retryFactor must be a number") }
                    p.retryFactor = v
                case "retryCapMs": p.retryCapMs = try int()
                case "maxAttempts": p.maxAttempts = try int()
                case "leaseSeconds": p.leaseSeconds = try int()
                default: throw ValidationError("unknown setting \(kv[0])")
                }
            }
            let params = p
            let s = try await self.global.withClient { try await $0.call(SetAutomation.self, params) }
            if self.global.json { return self.global.printJSON(s) }
            Automation.print(s)
        }
    }

    static func print(_ s: AutomationSettings) {
        Swift.print(Output.table([
            ["SETTING", "VALUE"],
            ["retryBaseMs", String(s.retryBaseMs)], ["retryFactor", String(s.retryFactor)],
            ["retryCapMs", String(s.retryCapMs)], ["maxAttempts", String(s.maxAttempts)],
            ["leaseSeconds", String(s.leaseSeconds)],
        ]))
    }
}
