import CampaignCore
import CampaignProtocol
import Logging
import NIOConcurrencyHelpers

/// Runs `automation.run` on the maintenance leader every `autoRunIntervalSeconds` while
/// automation is enabled: the first time at once, and again at once when it is enabled after
/// being off long enough. Disabling takes effect at the next round.
public final class AutomationScheduler: Sendable {
    /// What one round did.
    public enum Outcome: Sendable, Equatable {
        case disabled
        case notDue
        case ran(enqueued: Int)
        /// The run failed (it is tried again at the next interval); the error, as logged.
        case failed(String)
    }

    private let run: @Sendable () async throws -> RunAutomation.Result
    private let logger: Logger
    private let cadence = NIOLockedValueBox(Cadence())

    /// - Parameter run: a real (not dry) automation run, as `automation.run` does it.
    public init(logger: Logger, run: @escaping @Sendable () async throws -> RunAutomation.Result) {
        self.run = run
        self.logger = logger
    }

    /// One round at `now` under `settings` (the maintenance loop's current ones).
    @discardableResult
    public func runOnce(settings: AutomationSettings, at now: ContinuousClock.Instant = .now) async -> Outcome {
        guard settings.enabled else { return .disabled }
        let due = self.cadence.withLockedValue { $0.claim(at: now, every: .seconds(settings.autoRunIntervalSeconds)) }
        guard due else { return .notDue }
        do {
            return .ran(enqueued: try await self.run().enqueued)
        } catch {
            self.logger.warning("automatic run failed", metadata: ["error": "\(error)"])
            return .failed("\(error)")
        }
    }
}
