import CampaignCore
import Testing

@Suite("PhoneNumber: E.164 normalisation and validation")
struct PhoneNumberTests {
    @Test(
        "human-written numbers normalise to E.164",
        arguments: [
            ("+442079460958", "+442079460958"),
            ("+44 20 7946 0958", "+442079460958"),
            ("0044 20 7946 0958", "+442079460958"),
            ("+1 (212) 555-0100", "+12125550100"),
            ("+1.212.555.0100", "+12125550100"),
            ("  +33 1 23 45 67 89 \n", "+33123456789"),
            ("+49\u{00A0}30\u{00A0}1234567", "+49301234567"),
            ("+12345678", "+12345678"),  // 8 digits: the shortest accepted
            ("+123456789012345", "+123456789012345"),  // 15 digits: the longest
        ])
    func normalizes(_ raw: String, _ expected: String) {
        #expect(PhoneNumber.normalize(raw) == expected)
        #expect(PhoneNumber.isValidE164(expected))
    }

    @Test(
        "invalid or ambiguous numbers are refused, not guessed",
        arguments: [
            "", "+", "   ", "00",
            "020 7946 0958",  // national: no country code
            "2079460958",  // no + and no 00
            "+1234567",  // 7 digits
            "+1234567890123456",  // 16 digits
            "+0442079460958",  // leading zero after +
            "000442079460958",  // 00 then a zero
            "++442079460958",
            "44+2079460958",  // + not at the start
            "(+44) 20 7946 0958",  // + after a parenthesis
            "+44 20 7946 0958 ext 12",
            "+44/20/7946/0958",
            "+44_2079460958",
            "+4420794609５８",  // full-width digits
            "+44٢٠٧٩٤٦٠٩٥٨",  // Arabic-Indic digits
        ])
    func refuses(_ raw: String) {
        #expect(PhoneNumber.normalize(raw) == nil, "\(raw)")
    }

    @Test(
        "isValidE164 accepts only the canonical form",
        arguments: [
            ("+442079460958", true), ("+12345678", true), ("+123456789012345", true),
            ("442079460958", false), ("+44 20 7946 0958", false), ("+1234567", false),
            ("+1234567890123456", false), ("+0442079460958", false), ("", false), ("+", false),
            ("+44-2079460958", false), (" +442079460958", false), ("+4420794609５８", false),
        ])
    func validates(_ value: String, _ valid: Bool) {
        #expect(PhoneNumber.isValidE164(value) == valid, "\(value)")
    }

    @Test("normalize is idempotent and its output always validates")
    func idempotent() {
        var rng = SplitMix64(seed: 99)
        let prefixes = ["+", "00", "", "+0", " +", "0", "(+"]
        let pieces: [String] = ["0", "1", "2", "4", "9", "0", "5", "7", " ", "-", "(", ")", ".", "\u{00A0}", "x", "+"]
        var accepted = 0
        for _ in 0..<3000 {
            let body = (0..<Int.random(in: 4...18, using: &rng)).map { _ in
                // Mostly digits, sometimes a separator or junk.
                Int.random(in: 0..<4, using: &rng) == 0 ? pieces.randomElement(using: &rng)! : String(Int.random(in: 0...9, using: &rng))
            }
            let raw = prefixes.randomElement(using: &rng)! + body.joined()
            if let n = PhoneNumber.normalize(raw) {
                accepted += 1
                #expect(PhoneNumber.isValidE164(n), "\(raw) → \(n)")
                #expect(PhoneNumber.normalize(n) == n)
                #expect(n.utf8.allSatisfy { $0 == UInt8(ascii: "+") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
            }
        }
        #expect(accepted > 50, "the generator reaches valid numbers")
    }

    /// `("0"..."9").contains(ch)` compares whole Characters, so a grapheme that *starts* with an
    /// ASCII digit — a keycap "5️⃣" (5 U+FE0F U+20E3) or "1" with a combining accent — sorts
    /// between "0" and "9" and passes as a digit. The result is not E.164 (non-ASCII bytes).
    @Test(
        "digits with combining marks are not digits",
        arguments: [
            "+4420794609\u{0035}\u{FE0F}\u{20E3}8",  // keycap five
            "+44207946\u{0031}\u{0301}958",  // 1 with a combining acute accent
        ])
    func graphemesStartingWithADigit(_ raw: String) {
        #expect(PhoneNumber.normalize(raw) == nil, "normalize accepted \(Array(raw.unicodeScalars))")
        #expect(!PhoneNumber.isValidE164(raw), "isValidE164 accepted \(Array(raw.unicodeScalars))")
    }
}

@Suite("OutcomePolicy")
struct OutcomePolicyTests {
    @Test(
        "default mapping",
        arguments: [
            (CallOutcome.answered, OutcomePolicy.Action.complete), (.voicemail, .complete),
            (.noAnswer, .retry), (.busy, .retry), (.failed, .retry),
            (.rejected, .fail),
        ])
    func defaults(_ outcome: CallOutcome, _ action: OutcomePolicy.Action) {
        #expect(OutcomePolicy.default.action(for: outcome) == action)
    }

    @Test("the default covers every outcome")
    func defaultIsTotal() {
        #expect(Set(OutcomePolicy.default.actions.keys) == Set(CallOutcome.allCases))
    }

    @Test("an outcome missing from a custom policy fails rather than retrying")
    func missingOutcomeFails() {
        let p = OutcomePolicy(actions: [.answered: .complete, .busy: .complete])
        #expect(p.action(for: .busy) == .complete)
        #expect(p.action(for: .noAnswer) == .fail)
        #expect(OutcomePolicy(actions: [:]).action(for: .answered) == .fail)
    }

    @Test func actionsAreLowercaseOnTheWire() {
        #expect(OutcomePolicy.Action.allRawValues == ["complete", "retry", "fail"])
    }
}

extension OutcomePolicy.Action {
    static var allRawValues: [String] { [Self.complete, .retry, .fail].map(\.rawValue) }
}
