import Foundation
import NIOCore
import NIOPosix

// Swift concurrency's jobs run on NIO's event loops instead of a pool of their own: a request's task
// and the channels it reads and writes share threads, which saves a thread switch at every await on
// I/O (measured in bench/RESULTS.md). It must happen before any other task is enqueued, hence this
// file instead of `@main`. Blocking work (the disk spool) goes to NIOThreadPool.
// RUNGATE_EXECUTOR=default keeps Swift's own pool (an escape hatch, and the other side of the comparison).
let executorRequested = ProcessInfo.processInfo.environment["RUNGATE_EXECUTOR"] != "default"
let executorInstalled = executorRequested && EventLoopExecutor.install()
await runDataPlane()

/// In an async function, not top-level code: there `run()` would resolve to ParsableCommand's
/// synchronous default.
func runDataPlane() async {
    do {
        let command = try RungateData.parse()
        try await command.run(concurrencyOnEventLoops: executorInstalled, requested: executorRequested)
    } catch {
        RungateData.exit(withError: error)
    }
}
