import NIOConcurrencyHelpers
import Testing

@testable import CampaignCoordinator

/// The group commit of agent requests, without a database: each write is held open by the test
/// (a continuation it resumes), so what runs together, in which batches and how many at once is
/// decided by the batcher alone, not by timing.
@Suite("Request batcher")
struct RequestBatcherTests {
    /// A write the test controls: records each batch and waits until the test lets it finish.
    final class Writes: Sendable {
        private struct State {
            var batches: [[Int]] = []
            var held: [CheckedContinuation<Void, Never>] = []
            var running = 0
            var mostAtOnce = 0
        }
        private let state = NIOLockedValueBox(State())

        func write(_ batch: [Int]) async throws -> [Int] {
            await withCheckedContinuation { (cont: CheckedContinuation<Void, Never>) in
                self.state.withLockedValue { s in
                    s.batches.append(batch)
                    s.held.append(cont)
                    s.running += 1
                    s.mostAtOnce = max(s.mostAtOnce, s.running)
                }
            }
            self.state.withLockedValue { $0.running -= 1 }
            if batch.contains(-1) { throw Failure() }
            return batch.map { $0 * 10 }
        }

        /// Lets every held write finish.
        func releaseAll() {
            let held = self.state.withLockedValue { s -> [CheckedContinuation<Void, Never>] in
                defer { s.held = [] }
                return s.held
            }
            for c in held { c.resume() }
        }

        var batches: [[Int]] { self.state.withLockedValue { $0.batches } }
        var held: Int { self.state.withLockedValue { $0.held.count } }
        var mostAtOnce: Int { self.state.withLockedValue { $0.mostAtOnce } }

        /// Waits (yielding, no clock) until `n` writes are held; records an issue if they never are.
        func waitForHeld(_ n: Int, sourceLocation: SourceLocation = #_sourceLocation) async {
            let reached = await RequestBatcherTests.eventually { self.held >= n }
            #expect(reached, "\(n) writes never held at once (held \(self.held))", sourceLocation: sourceLocation)
        }
    }

    struct Failure: Error {}

    /// Yields until `condition` holds, at most a generous number of times (no clock involved):
    /// false if it never did, so a batcher that gets it wrong fails the test instead of hanging it.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<1_000_000 {
            if condition() { return true }
            await Task.yield()
        }
        return condition()
    }

    @Test("a lone request is written at once; requests that arrive meanwhile share the next batch")
    func batchesWhatArrivesMeanwhile() async throws {
        let writes = Writes()
        let batcher = RequestBatcher<Int, Int>(write: { try await writes.write($0) })
        async let first = batcher.submit(1)
        await writes.waitForHeld(1)
        // While the first batch is being written, five more queue up.
        async let more = withThrowingTaskGroup(of: Int.self) { group in
            for i in 2...6 { group.addTask { try await batcher.submit(i) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(await Self.eventually { batcher.pendingCount == 5 })
        // Let the first write finish; the five go together in the second.
        writes.releaseAll()
        await writes.waitForHeld(1)
        writes.releaseAll()
        #expect(try await first == 10)
        #expect(try await more.sorted() == [20, 30, 40, 50, 60])
        #expect(writes.batches.count == 2)
        #expect(writes.batches[0] == [1])
        #expect(writes.batches[1].sorted() == [2, 3, 4, 5, 6])
        #expect(writes.mostAtOnce == 1)
    }

    @Test("with concurrency 2, a request that finds a writer free is written at once, never more than 2 at once")
    func twoWritersAtOnce() async throws {
        let writes = Writes()
        let batcher = RequestBatcher<Int, Int>(concurrency: 2, write: { try await writes.write($0) })
        async let a = batcher.submit(1)
        await writes.waitForHeld(1)
        async let b = batcher.submit(2)
        await writes.waitForHeld(2)
        // Both writers busy: these wait for a free one, together.
        async let rest = withThrowingTaskGroup(of: Int.self) { group in
            for i in 3...5 { group.addTask { try await batcher.submit(i) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(await Self.eventually { batcher.pendingCount == 3 })
        #expect(writes.batches.count == 2, "a third writer started: \(writes.batches)")
        // Let the two finish; a free writer takes the three waiting ones.
        writes.releaseAll()
        #expect(await Self.eventually { writes.batches.flatMap { $0 }.count == 5 })
        while writes.held > 0 {
            writes.releaseAll()
            await Task.yield()
        }
        #expect(try await a == 10)
        #expect(try await b == 20)
        #expect(try await rest.sorted() == [30, 40, 50])
        #expect(writes.mostAtOnce == 2)
        #expect(writes.batches.flatMap { $0 }.sorted() == [1, 2, 3, 4, 5])
    }

    @Test("a failed batch fails each of its requests, and only those")
    func failurePerBatch() async throws {
        let writes = Writes()
        let batcher = RequestBatcher<Int, Int>(write: { try await writes.write($0) })
        async let ok = batcher.submit(1)
        await writes.waitForHeld(1)
        async let bad = batcher.submitAll([7, -1, 8])
        #expect(await Self.eventually { batcher.pendingCount == 3 })
        writes.releaseAll()
        await writes.waitForHeld(1)
        writes.releaseAll()
        #expect(try await ok == 10)
        let results = await bad
        #expect(results.count == 3)
        for r in results { #expect(throws: Failure.self) { try r.get() } }
    }

    @Test("submitAll answers in the order given and keeps a request of many in one batch")
    func submitAllOrder() async throws {
        let writes = Writes()
        let batcher = RequestBatcher<Int, Int>(write: { try await writes.write($0) })
        async let all = batcher.submitAll([5, 3, 9, 1])
        await writes.waitForHeld(1)
        writes.releaseAll()
        #expect(try await all.map { try $0.get() } == [50, 30, 90, 10])
        #expect(writes.batches == [[5, 3, 9, 1]])
    }

    @Test("a batch holds at most maximumBatch requests; the rest go in the next")
    func maximumBatch() async throws {
        let writes = Writes()
        let batcher = RequestBatcher<Int, Int>(maximumBatch: 3, write: { try await writes.write($0) })
        async let all = batcher.submitAll(Array(1...7))
        var answered = false
        for _ in 0..<10 where !answered {
            await writes.waitForHeld(1)
            writes.releaseAll()
            answered = writes.batches.flatMap { $0 }.count == 7 && writes.held == 0
            await Task.yield()
        }
        #expect(try await all.map { try $0.get() } == (1...7).map { $0 * 10 })
        #expect(writes.batches == [[1, 2, 3], [4, 5, 6], [7]])
    }
}
