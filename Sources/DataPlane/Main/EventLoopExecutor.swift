import CConcurrencyHook
import NIOCore
import NIOPosix

/// Runs Swift concurrency's global jobs on NIO's singleton event loops, as NIO's
/// `unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor` does, but installed
/// through a linked reference to the runtime's hook: NIO looks the hook up with dlsym, which finds
/// nothing when the Swift runtime is linked statically (the shipped build), so it silently did not
/// take effect there. Must run before any task is enqueued on the global executor.
enum EventLoopExecutor {
    typealias EnqueueHook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void

    /// False when another hook was installed first (then Swift's own pool stays in use).
    static func install() -> Bool {
        withUnsafeTemporaryAllocation(of: EnqueueHook.self, capacity: 1) { slot in
            // `any()` prefers the event loop the caller is on: a job enqueued from a channel's
            // thread stays there, without a thread switch. The job runs on the generic executor,
            // as on Swift's own pool: run "on" the loop's serial executor (`enqueue(ExecutorJob)`),
            // each await into nonisolated code was a switch of executors and went through the
            // loop's queue again — about 160 trips per proxied call (callgrind, bench/RESULTS.md).
            slot.baseAddress!.initialize(to: { job, _ in
                MultiThreadedEventLoopGroup.singleton.any().execute {
                    rungate_run_job_on_generic_executor(unsafeBitCast(job, to: UnsafeMutableRawPointer.self))
                }
            })
            return slot.baseAddress!.withMemoryRebound(to: UnsafeMutableRawPointer.self, capacity: 1) { pointer in
                rungate_install_enqueue_global_hook(pointer.pointee)
            }
        }
    }
}
