/// What an agent does with each call outcome (DESIGN §8): complete, retry later, or fail for good.
public struct OutcomePolicy: Sendable, Equatable {
    public enum Action: String, Sendable, Equatable, Codable {
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
}
