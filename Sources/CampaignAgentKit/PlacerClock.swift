/// The time a placer's waits run on: the continuous clock, or one a test moves.
///
/// Instants stay `ContinuousClock.Instant` (a call's deadline is one, and so is every instant the
/// ``HTTPCallStateMachine`` returns); what a test replaces is where "now" comes from and what a
/// sleep until an instant waits for.
public struct PlacerClock: Sendable {
    public var now: @Sendable () -> ContinuousClock.Instant
    public var sleep: @Sendable (_ until: ContinuousClock.Instant) async throws -> Void

    public init(
        now: @escaping @Sendable () -> ContinuousClock.Instant,
        sleep: @escaping @Sendable (_ until: ContinuousClock.Instant) async throws -> Void
    ) {
        self.now = now
        self.sleep = sleep
    }

    public static let continuous = PlacerClock(
        now: { .now }, sleep: { try await Task.sleep(until: $0, clock: .continuous) })
}
