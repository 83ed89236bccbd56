import NIOCore
import NIOPosix

/// A liveness probe: true when every event loop of the group runs a task within `within`.
public enum EventLoopProbe {
    public static func responds(
        _ group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, within: Duration = .seconds(2)
    ) async -> Bool {
        await withTaskGroup(of: Bool.self) { tasks in
            tasks.addTask {
                for loop in group.makeIterator() {
                    guard (try? await loop.submit({}).get()) != nil else { return false }
                }
                return true
            }
            tasks.addTask {
                try? await Task.sleep(for: within)
                return false
            }
            let first = await tasks.next() ?? false
            tasks.cancelAll()
            return first
        }
    }
}
