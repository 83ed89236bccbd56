import NIOConcurrencyHelpers
import Testing

@testable import CampaignAgentKit

/// The agent's call slots and report backlog places, without a coordinator: who gets what, in
/// which order, and what closing does. Waits yield a bounded number of times (no clock).
@Suite("Slots and permits")
struct SlotsAndPermitsTests {
    static func eventually(_ condition: () -> Bool) async -> Bool {
        for _ in 0..<1_000_000 {
            if condition() { return true }
            await Task.yield()
        }
        return condition()
    }

    @Test("the lease loop takes every free slot; released ones come back together")
    func slots() async {
        let slots = Slots(capacity: 5)
        #expect(await slots.acquireAvailable() == 5)
        #expect(slots.takeAvailable() == 0)
        slots.release(2)
        slots.release(1)
        #expect(slots.takeAvailable() == 3)
        // A waiting loop gets what is released while it waits.
        async let waited = slots.acquireAvailable()
        for _ in 0..<100 { await Task.yield() }
        slots.release(4)
        #expect(await waited == 4)
    }

    @Test("calls resumed after a restart borrow slots past the capacity; leasing waits until they are back above zero")
    func slotsBorrowed() async {
        let slots = Slots(capacity: 2)
        slots.borrow(3)  // three calls left in progress by the earlier run, on a capacity of two
        #expect(slots.takeAvailable() == 0)
        let got = NIOLockedValueBox<Int?>(nil)
        let waiter = Task {
            let n = await slots.acquireAvailable()
            got.withLockedValue { $0 = n }
        }
        for _ in 0..<100 { await Task.yield() }
        slots.release(1)  // back to 0 free: still nothing to lease
        for _ in 0..<100 { await Task.yield() }
        #expect(got.withLockedValue { $0 } == nil, "woken with no free slot")
        slots.release(1)
        #expect(await Self.eventually { got.withLockedValue { $0 } == 1 })
        await waiter.value
        slots.release(1)
        #expect(slots.takeAvailable() == 1)
    }

    @Test("closing wakes the waiting loop with 0 and keeps answering 0")
    func slotsClose() async {
        let slots = Slots(capacity: 1)
        #expect(await slots.acquireAvailable() == 1)
        async let waited = slots.acquireAvailable()
        for _ in 0..<100 { await Task.yield() }
        slots.close()
        #expect(await waited == 0)
        slots.release(1)
        #expect(await slots.acquireAvailable() == 0)
        #expect(slots.takeAvailable() == 0)
    }

    @Test("permits: at most the count at once, waiters served in the order they came")
    func permitsFIFO() async {
        let permits = Permits(2)
        await permits.acquire()
        await permits.acquire()
        let order = NIOLockedValueBox<[Int]>([])
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<5 {
                // One at a time, so the order they start waiting in is known.
                group.addTask {
                    await permits.acquire()
                    order.withLockedValue { $0.append(i) }
                }
                #expect(await Self.eventually { permits.waitingCount == i + 1 })
            }
            #expect(order.withLockedValue { $0 }.isEmpty, "a waiter got a permit while none was free")
            for n in 1...5 {
                permits.release()
                #expect(await Self.eventually { order.withLockedValue { $0.count } == n })
            }
        }
        #expect(order.withLockedValue { $0 } == [0, 1, 2, 3, 4])
        // Every release handed its place to the next waiter; two more leave two places free.
        permits.release()
        permits.release()
        await permits.acquire()
        await permits.acquire()
    }
}
