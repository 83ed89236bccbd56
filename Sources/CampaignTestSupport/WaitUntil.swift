/// A condition a test waited for did not hold in time.
public struct ConditionNotMet: Error, CustomStringConvertible {
    public let waited: Duration
    public var description: String { "the condition did not hold within \(self.waited)" }
}

/// Waits until `condition` holds — for tasks, processes or a loopback server to reach a step,
/// never for time to pass — checking every millisecond; throws ``ConditionNotMet`` after
/// `within`, so a broken piece fails its test instead of hanging it.
public func waitUntil(within: Duration = .seconds(60), _ condition: () -> Bool) async throws {
    let giveUp = ContinuousClock.now + within
    while !condition() {
        guard ContinuousClock.now < giveUp else { throw ConditionNotMet(waited: within) }
        try await Task.sleep(for: .milliseconds(1))
    }
}
