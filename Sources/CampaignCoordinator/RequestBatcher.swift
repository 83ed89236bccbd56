import CampaignCore
import CampaignStore
import NIOConcurrencyHelpers

/// Group commit for agent requests: leases (`jobs.lease`) in one batcher, reports and dialing
/// checks (`jobs.dialing`, `jobs.complete`, `jobs.fail`, `jobs.skip`) in another.
///
/// Requests that arrive while a batch is being written wait and go together in the next one:
/// one transaction and one array-taking statement per step serve them all, and each caller gets
/// its own answer when that transaction commits. There is no timer: an idle coordinator writes a
/// lone request at once, a busy one naturally batches more (DESIGN §9).
///
/// Up to `concurrency` batches are written at once (each on its own connection): a request that
/// arrives while every writer is busy waits for the next batch, one that finds a writer free is
/// written at once. Two writers overlap one transaction's round trips and commit with the
/// other's work; their batches lock their rows in id order, so they never deadlock.
final class RequestBatcher<Request: Sendable, Outcome: Sendable>: Sendable {
    /// Called once with the request's outcome when its batch is written.
    private typealias Waiter = @Sendable (Result<Outcome, any Error>) -> Void

    private struct State {
        var pending: [(Request, Waiter)] = []
        var writers = 0
    }

    private let state = NIOLockedValueBox(State())
    private let maximumBatch: Int
    private let concurrency: Int
    private let write: @Sendable ([Request]) async throws -> [Outcome]

    /// Sizes of the last batches written (at most `keptSizes`), for tests and benchmarks.
    let batchSizes = NIOLockedValueBox<[Int]>([])
    private let keptSizes = 1000

    init(
        maximumBatch: Int = 500, concurrency: Int = 1, write: @escaping @Sendable ([Request]) async throws -> [Outcome]
    ) {
        self.maximumBatch = maximumBatch
        self.concurrency = max(1, concurrency)
        self.write = write
    }

    /// Requests waiting for a writer (for tests).
    var pendingCount: Int { self.state.withLockedValue { $0.pending.count } }

    func submit(_ request: Request) async throws -> Outcome {
        let result = await withCheckedContinuation { (cont: CheckedContinuation<Result<Outcome, any Error>, Never>) in
            self.enqueue([(request, { @Sendable r in cont.resume(returning: r) })])
        }
        return try result.get()
    }

    /// Several requests queued at once (one `jobs.report`), so that they share a batch unless it
    /// is full; each outcome (or the error of its batch) in the order given.
    func submitAll(_ requests: [Request]) async -> [Result<Outcome, any Error>] {
        guard !requests.isEmpty else { return [] }
        return await withCheckedContinuation { (cont: CheckedContinuation<[Result<Outcome, any Error>], Never>) in
            let collector = Collector(count: requests.count, continuation: cont)
            self.enqueue(requests.enumerated().map { i, r in (r, { @Sendable o in collector.set(i, o) }) })
        }
    }

    /// Gathers the outcomes of one `submitAll` and resumes its caller with the last one.
    private final class Collector: Sendable {
        private struct State {
            var results: [Result<Outcome, any Error>?]
            var left: Int
        }
        private let state: NIOLockedValueBox<State>
        private let continuation: CheckedContinuation<[Result<Outcome, any Error>], Never>

        init(count: Int, continuation: CheckedContinuation<[Result<Outcome, any Error>], Never>) {
            self.state = NIOLockedValueBox(State(results: Array(repeating: nil, count: count), left: count))
            self.continuation = continuation
        }

        func set(_ i: Int, _ r: Result<Outcome, any Error>) {
            let done: [Result<Outcome, any Error>]? = self.state.withLockedValue { s in
                s.results[i] = r
                s.left -= 1
                return s.left == 0 ? s.results.map { $0! } : nil
            }
            if let done { self.continuation.resume(returning: done) }
        }
    }

    private func enqueue(_ entries: [(Request, Waiter)]) {
        let lead = self.state.withLockedValue { s -> Bool in
            s.pending.append(contentsOf: entries)
            if s.writers >= self.concurrency { return false }
            s.writers += 1
            return true
        }
        // The first caller that finds a writer free starts it; later ones ride along. The writing task
        // is unstructured because it outlives the caller that started it (it serves everyone
        // who queued meanwhile); it ends as soon as nothing is pending.
        if lead { Task { await self.flush() } }
    }

    private func flush() async {
        while true {
            let batch: [(Request, Waiter)] = self.state.withLockedValue { s in
                let n = min(s.pending.count, self.maximumBatch)
                let b = Array(s.pending.prefix(n))
                s.pending.removeFirst(n)
                if b.isEmpty { s.writers -= 1 }
                return b
            }
            if batch.isEmpty { return }
            self.batchSizes.withLockedValue { sizes in
                if sizes.count >= self.keptSizes { sizes.removeFirst(sizes.count - self.keptSizes + 1) }
                sizes.append(batch.count)
            }
            do {
                let outcomes = try await self.write(batch.map(\.0))
                for (i, (_, waiter)) in batch.enumerated() { waiter(.success(outcomes[i])) }
            } catch {
                for (_, waiter) in batch { waiter(.failure(error)) }
            }
        }
    }
}
