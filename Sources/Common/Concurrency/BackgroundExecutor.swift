#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix

/// A thread for work no call waits for (a step batch's encoding and statements), in the kernel's
/// idle scheduling class: it runs only when no other thread wants the core.
///
/// Run on the event loops, a batch held every connection of its loop for its milliseconds of
/// encoding; on an ordinary thread it still took cores from calls: on a busy core the kernel let
/// whatever ran there finish its time slice (~3 ms) before a call's thread got the core back
/// (`perf sched`, bench/RESULTS.md session 13). An idle-class thread is preempted as soon as a call's
/// thread wakes. Under sustained saturation it would get almost no CPU: callers that fall behind use
/// no preference (the event loops) until they catch up — the class cannot be left again without
/// privilege, so the thread keeps it.
///
/// Use: `withTaskExecutorPreference(BackgroundExecutor.shared) { … }`; what the work awaits
/// elsewhere (PostgreSQL's answers) resumes here.
public final class BackgroundExecutor: TaskExecutor {
    public static let shared = BackgroundExecutor()

    private let loop: any EventLoop

    init() {
        loop = MultiThreadedEventLoopGroup(numberOfThreads: 1).next()
        // Applies to the calling thread only (`pid` 0): run as the thread's first job.
        loop.execute {
            #if os(Linux)
            var parameters = sched_param(sched_priority: 0)
            _ = sched_setscheduler(0, Self.idleClass, &parameters)
            #endif
        }
    }

    /// Linux's `SCHED_IDLE` (glibc declares it only under `_GNU_SOURCE`).
    public static let idleClass: Int32 = 5

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
