import CampaignCore
import Testing

@Suite("Placer configuration texts")
struct PlacerConfigurationTests {
    @Test("outcome actions: overrides on top of the defaults, read back by description")
    func outcomeActions() throws {
        #expect(try OutcomePolicy.parse("") == .default)
        let p = try OutcomePolicy.parse(" voicemail = retry , FAILED=fail")
        #expect(p.action(for: .voicemail) == .retry)
        #expect(p.action(for: .failed) == .fail)
        #expect(p.action(for: .answered) == .complete)
        #expect(p.action(for: .noAnswer) == .retry)
        #expect(try OutcomePolicy.parse(p.description) == p)
        #expect(OutcomePolicy.default.description.hasPrefix("ANSWERED=complete,NO_ANSWER=retry"))
    }

    @Test("outcome actions: every mistake is named", arguments: [
        ("HUNG_UP=retry", "unknown outcome HUNG_UP"),
        ("BUSY=later", "unknown action later"),
        ("BUSY", "expected KEY=VALUE"),
        ("BUSY=", "expected KEY=VALUE"),
        ("BUSY=retry,busy=fail", "given twice"),
    ])
    func outcomeActionErrors(_ text: String, _ message: String) {
        #expect(throws: ConfigurationError.self) { try OutcomePolicy.parse(text) }
        do {
            _ = try OutcomePolicy.parse(text)
        } catch {
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test("provider statuses: defaults", arguments: [
        ("completed", ProviderStatusMap.Meaning.final(.answered)), ("COMPLETED", .final(.answered)),
        ("no-answer", .final(.noAnswer)), ("no_answer", .final(.noAnswer)), ("NO_ANSWER", .final(.noAnswer)),
        ("busy", .final(.busy)), ("voicemail", .final(.voicemail)), ("machine", .final(.voicemail)),
        ("canceled", .final(.rejected)), ("failed", .final(.failed)), ("rejected", .final(.rejected)),
        ("queued", .inProgress), ("ringing", .inProgress), ("in_progress", .inProgress), ("in-progress", .inProgress),
        ("something-new", .inProgress),
    ])
    func statusDefaults(_ status: String, _ meaning: ProviderStatusMap.Meaning) {
        #expect(ProviderStatusMap.default.meaning(of: status) == meaning)
    }

    @Test("provider statuses: overrides and errors")
    func statusOverrides() throws {
        let m = try ProviderStatusMap.parse("answered=progress, hangup=ANSWERED, completed=voicemail")
        #expect(m.meaning(of: "answered") == .inProgress)
        #expect(m.meaning(of: "HANGUP") == .final(.answered))
        #expect(m.meaning(of: "completed") == .final(.voicemail))
        #expect(m.meaning(of: "busy") == .final(.busy))
        #expect(m.knows("hangup"))
        #expect(!m.knows("whatever"))
        let dnc = try ProviderStatusMap.parse("dnc=ANSWERED+OPT_OUT, hung-up-angry=rejected+opt-out")
        #expect(dnc.meaning(of: "DNC") == .final(.answered, optOut: true))
        #expect(dnc.meaning(of: "hung_up_angry") == .final(.rejected, optOut: true))
        #expect(dnc.meaning(of: "opted-out") == .final(.answered, optOut: true), "a default")
        #expect(dnc.meaning(of: "completed") == .final(.answered, optOut: false))
        #expect(throws: ConfigurationError.self) { try ProviderStatusMap.parse("x=+OPT_OUT") }
        #expect(throws: ConfigurationError.self) { try ProviderStatusMap.parse("completed=done") }
        #expect(throws: ConfigurationError.self) { try ProviderStatusMap.parse("completed") }
    }
}
