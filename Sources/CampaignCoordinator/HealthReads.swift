import CampaignProtocol
import Foundation
import NIOConcurrencyHelpers

/// `health`'s database reads, one at a time, with the last result kept (issue 17).
///
/// `health` must answer within a second, also when the database does not: it waits that long
/// for the reads, then answers from the last counts it saw. The reads go on in the background
/// (each store call has its own deadline) and every `health` that comes meanwhile joins them
/// rather than start more, so a frozen database and an operator pressing `health` in a loop cost
/// one pooled connection, not all of them.
final class HealthReads: Sendable {
    /// What the reads give: the counts part of a `health` answer.
    struct Counts: Sendable {
        var queue = QueueCounts()
        var completedToday = 0
        var campaigns: [CampaignHealth] = []
    }

    private struct State {
        var inFlight: Task<Counts?, Never>?
        var last: (counts: Counts, at: Date)?
    }

    private let state = NIOLockedValueBox(State())

    /// Whether `read` (or the one already running) finished within `patience`, the counts it
    /// gave (nil: it failed or did not finish), and the last known counts with when they were read.
    func counts(
        patience: Duration, _ read: @escaping @Sendable () async -> Counts?
    ) async -> (finished: Bool, fresh: Counts?, last: (counts: Counts, at: Date)?) {
        let task = self.state.withLockedValue { s -> Task<Counts?, Never> in
            if let t = s.inFlight { return t }
            let t = Task {
                let counts = await read()
                self.state.withLockedValue { s in
                    s.inFlight = nil
                    if let counts { s.last = (counts, Date()) }
                }
                return counts
            }
            s.inFlight = t
            return t
        }
        let value = await Self.value(of: task, within: patience)
        return (value != nil, value ?? nil, self.state.withLockedValue { $0.last })
    }

    /// The task's value if it ends within `patience` (the task itself goes on either way).
    private static func value<T: Sendable>(of task: Task<T, Never>, within patience: Duration) async -> T? {
        let once = NIOLockedValueBox<CheckedContinuation<T?, Never>?>(nil)
        return await withCheckedContinuation { (cont: CheckedContinuation<T?, Never>) in
            once.withLockedValue { $0 = cont }
            @Sendable func finish(_ value: T?) {
                once.withLockedValue { c in
                    c?.resume(returning: value)
                    c = nil
                }
            }
            Task { finish(await task.value) }
            Task {
                try? await Task.sleep(for: patience)
                finish(nil)
            }
        }
    }
}
