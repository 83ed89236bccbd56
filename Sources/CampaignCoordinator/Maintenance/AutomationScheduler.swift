import CampaignCore
import CampaignProtocol
import Logging
import NIOConcurrencyHelpers

/// Runs `automation.run` on the maintenance leader every `autoRunIntervalSeconds` for each
/// campaign whose automation is enabled: the first time at once, and again at once when it is
/// enabled after being off long enough. Disabling takes effect at the next round. Each campaign
/// keeps its own cadence.
public final class AutomationScheduler: Sendable {
    /// What one round did.
    public enum Outcome: Sendable, Equatable {
        case disabled
        case notDue
        case ran(enqueued: Int)
        /// The run failed (it is tried again at the next interval); the error, as logged.
        case failed(String)
    }

    private let run: @Sendable (String) async throws -> RunAutomation.Result
    private let logger: Logger
    private let cadences = NIOLockedValueBox([String: Cadence]())

    /// - Parameter run: a real (not dry) automation run of the named campaign, as `automation.run` does it.
    public init(logger: Logger, run: @escaping @Sendable (String) async throws -> RunAutomation.Result) {
        self.run = run
        self.logger = logger
    }

    /// One round at `now` for one campaign under its `settings` (the maintenance loop's current ones).
    @discardableResult
    public func runOnce(
        settings: AutomationSettings, campaign: String = CampaignName.default, at now: ContinuousClock.Instant = .now
    ) async -> Outcome {
        guard settings.enabled else { return .disabled }
        let due = self.cadences.withLockedValue {
            $0[campaign, default: Cadence()].claim(at: now, every: .seconds(settings.autoRunIntervalSeconds))
        }
        guard due else { return .notDue }
        do {
            return .ran(enqueued: try await self.run(campaign).enqueued)
        } catch {
            self.logger.warning("automatic run failed", metadata: ["campaign": "\(campaign)", "error": "\(error)"])
            return .failed("\(error)")
        }
    }
}
