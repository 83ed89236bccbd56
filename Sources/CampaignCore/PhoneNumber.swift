/// E.164 normalisation and validation, pure.
public enum PhoneNumber {
    /// Normalises a human-written number to E.164 (`+` then 8 to 15 digits, no leading zero).
    ///
    /// Spaces, dashes, dots and parentheses are dropped; a leading `00` becomes `+`.
    /// Returns `nil` when the result is not a valid E.164 number (national numbers without a
    /// country code are refused rather than guessed).
    public static func normalize(_ raw: String) -> String? {
        var digits = ""
        var sawPlus = false
        for (index, ch) in raw.trimmingWhitespace().enumerated() {
            switch ch {
            case "+" where index == 0: sawPlus = true
            case " ", "-", ".", "(", ")", "\u{00A0}": continue
            case "0"..."9" where ch.isASCII: digits.append(ch)  // not "5️⃣" or "1" + a combining mark
            default: return nil
            }
        }
        if !sawPlus {
            guard digits.hasPrefix("00") else { return nil }
            digits.removeFirst(2)
        }
        guard (8...15).contains(digits.count), digits.first != "0" else { return nil }
        return "+" + digits
    }

    /// True when `value` is already in E.164 form.
    public static func isValidE164(_ value: String) -> Bool {
        guard value.first == "+" else { return false }
        let digits = value.dropFirst()
        return (8...15).contains(digits.count) && digits.first != "0" && digits.allSatisfy { $0.isASCII && ("0"..."9").contains($0) }
    }
}

extension String {
    func trimmingWhitespace() -> Substring {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return s
    }
}
