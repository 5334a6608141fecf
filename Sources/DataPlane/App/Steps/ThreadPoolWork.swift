import NIOCore
import NIOPosix

/// Work the step recorder and its spool hand to NIO's thread pool (spool file I/O, sealing a batch
/// of payloads, encoding a batch's statements): off the event loops and Swift's few cooperative
/// threads, and run to its end even when the calling task is cancelled — a spill at shutdown must
/// not be dropped. The pool's threads run it below the event loops' priority (`BackgroundPriority`).
enum ThreadPoolWork {
    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await NIOThreadPool.singleton.runIfActive(eventLoop: MultiThreadedEventLoopGroup.singleton.any()) {
            BackgroundPriority.lowerCurrentThread()
            return try body()
        }.get()
    }

    /// Pure computation moved off the event loops: on the pool (below their priority); here on the
    /// thread of a recorder catching up (`BackgroundExecutor.catchUp`), which is at their priority,
    /// and here when the pool has stopped.
    static func runOrInline<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        if BackgroundExecutor.catchUp.isCurrentThread { return body() }
        return (try? await run(body)) ?? body()
    }
}
