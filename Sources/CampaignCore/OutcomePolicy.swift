/// What an agent does with each call outcome (DESIGN §8): complete, retry later, or fail for good.
public struct OutcomePolicy: Sendable, Equatable {
    public enum Action: String, Sendable, Equatable, Codable, CaseIterable {
        case complete, retry, fail
    }

    public var actions: [CallOutcome: Action]

    /// Defaults: answered and voicemail complete; no-answer, busy and technical failures retry
    /// later; a rejected call fails for good (calling again would annoy the customer).
    public static let `default` = OutcomePolicy(actions: [
        .answered: .complete, .voicemail: .complete,
        .noAnswer: .retry, .busy: .retry, .failed: .retry,
        .rejected: .fail,
    ])

    public init(actions: [CallOutcome: Action]) {
        self.actions = actions
    }

    public func action(for outcome: CallOutcome) -> Action {
        self.actions[outcome] ?? .fail
    }

    /// The default policy with overrides from a list like `VOICEMAIL=retry,FAILED=fail`
    /// (outcomes and actions case-insensitive, blanks ignored). An empty text is the default.
    public static func parse(_ text: String) throws(ConfigurationError) -> OutcomePolicy {
        var policy = OutcomePolicy.default
        for (key, value) in try KeyValueList.parse(text) {
            guard let outcome = CallOutcome(rawValue: key.uppercased()) else {
                throw ConfigurationError(
                    "unknown outcome \(key) (one of \(CallOutcome.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard let action = Action(rawValue: value.lowercased()) else {
                throw ConfigurationError("unknown action \(value) for \(key) (one of complete, retry, fail)")
            }
            policy.actions[outcome] = action
        }
        return policy
    }

    /// `ANSWERED=complete,…` in outcome order: what `parse` reads back.
    public var description: String {
        CallOutcome.allCases.map { "\($0.rawValue)=\(self.action(for: $0).rawValue)" }.joined(separator: ",")
    }
}

/// A configuration text that does not parse; the message says what and why.
public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// `a=b,c=d` lists as used by the agent's flags. Keys must not repeat.
public enum KeyValueList {
    public static func parse(_ text: String) throws(ConfigurationError) -> [(String, String)] {
        var pairs: [(String, String)] = []
        var seen = Set<String>()
        for item in text.split(separator: ",") {
            let trimmed = item.trimmingBlanks()
            if trimmed.isEmpty { continue }
            let parts = trimmed.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw ConfigurationError("expected KEY=VALUE, got \(trimmed)") }
            let key = parts[0].trimmingBlanks()
            let value = parts[1].trimmingBlanks()
            guard !key.isEmpty, !value.isEmpty else { throw ConfigurationError("expected KEY=VALUE, got \(trimmed)") }
            guard seen.insert(key.lowercased()).inserted else { throw ConfigurationError("\(key) is given twice") }
            pairs.append((key, value))
        }
        return pairs
    }
}

extension Substring {
    fileprivate func trimmingBlanks() -> String {
        String(self.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
    }
}

/// How an HTTP provider's call statuses map to outcomes (DESIGN §8): each status is either still
/// in progress or final with an outcome. Statuses compare case-insensitively with `_` and `-`
/// treated alike; a status the map does not know counts as in progress (the call is followed
/// until it reaches a known final status or the call's hard limit).
public struct ProviderStatusMap: Sendable, Equatable {
    public enum Meaning: Sendable, Equatable {
        case inProgress
        /// The call ended with this outcome; `optOut`: the person asked not to be called again.
        case final(CallOutcome, optOut: Bool = false)
    }

    public private(set) var meanings: [String: Meaning]

    /// Twilio-like statuses plus this product's own outcome names.
    public static let `default`: ProviderStatusMap = {
        var m = ProviderStatusMap(meanings: [:])
        for s in ["queued", "initiated", "accepted", "dialing", "ringing", "in-progress"] { m.set(s, .inProgress) }
        for o in CallOutcome.allCases { m.set(o.rawValue, .final(o)) }
        m.set("completed", .final(.answered))
        m.set("machine", .final(.voicemail))
        m.set("canceled", .final(.rejected))
        m.set("cancelled", .final(.rejected))
        m.set("declined", .final(.rejected))
        // The person asked not to be called again (the number is suppressed, issue 15).
        m.set("opted-out", .final(.answered, optOut: true))
        m.set("do-not-call", .final(.answered, optOut: true))
        return m
    }()

    public init(meanings: [String: Meaning]) {
        self.meanings = [:]
        for (k, v) in meanings { self.set(k, v) }
    }

    public mutating func set(_ status: String, _ meaning: Meaning) {
        self.meanings[Self.normalize(status)] = meaning
    }

    /// The meaning of a provider status; unknown statuses are in progress.
    public func meaning(of status: String) -> Meaning {
        self.meanings[Self.normalize(status)] ?? .inProgress
    }

    public func knows(_ status: String) -> Bool {
        self.meanings[Self.normalize(status)] != nil
    }

    static func normalize(_ status: String) -> String {
        String(status.lowercased().map { $0 == "_" ? "-" : $0 })
    }

    /// The default map with overrides from `completed=ANSWERED,answered=progress,dnc=ANSWERED+OPT_OUT`
    /// (value: an outcome, the same with `+OPT_OUT` for a status that says the person asked not to
    /// be called again, or `progress` for a status that is not final).
    public static func parse(_ text: String) throws(ConfigurationError) -> ProviderStatusMap {
        var map = ProviderStatusMap.default
        for (status, value) in try KeyValueList.parse(text) {
            let upper = value.uppercased()
            let optOut = upper.hasSuffix("+OPT_OUT") || upper.hasSuffix("+OPT-OUT")
            let outcomeName = optOut ? String(upper.dropLast("+OPT_OUT".count)) : upper
            if value.lowercased() == "progress" {
                map.set(status, .inProgress)
            } else if let outcome = CallOutcome(rawValue: outcomeName) {
                map.set(status, .final(outcome, optOut: optOut))
            } else {
                throw ConfigurationError(
                    "unknown meaning \(value) for provider status \(status) (an outcome such as ANSWERED, ANSWERED+OPT_OUT, or progress)")
            }
        }
        return map
    }
}
