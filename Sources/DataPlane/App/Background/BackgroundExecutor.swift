import Common
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The data plane's background work — the step recorder's batches, and what it hands to NIO's
/// thread pool (sealing payloads, building statements, the spool) — runs on threads whose scheduling
/// priority is below the event loops'. A batch of 2,000 steps taken off the queue, written and
/// released on an event loop held it for 1–4 ms, four times a second, and the calls on that loop
/// waited for it; on a thread of its own at a lower priority, the kernel gives the loops the larger
/// share of a core both want (bench/RESULTS.md, session 41). Idle cores run it as before; on a
/// saturated host the recorder's queue grows during a burst and drains after it. An unprivileged
/// thread cannot raise its priority again, so a recorder far behind moves to a second thread that
/// was never lowered (`BackgroundExecutor.catchUp`).
enum BackgroundPriority {
    /// `nice` 10 (`RUNGATE_BACKGROUND_NICE`, 0–19; 0 keeps the loops' priority): about a tenth of
    /// a core beside one busy event loop on the same core.
    static let niceness = Int32(min(max(Env.int("RUNGATE_BACKGROUND_NICE") ?? 10, 0), 19))

    /// The calling thread's nice value (Linux keeps one per thread).
    static var currentThreadNiceness: Int32 {
        getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
    }

    /// Lowers the calling thread's priority; a no-op once done.
    static func lowerCurrentThread() {
        #if os(Linux)
        if currentThreadNiceness != niceness {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        }
        #endif
    }
}

/// A task executor on a thread of its own: work that runs with it as its preference
/// (`withTaskExecutorPreference`) leaves the event loops, waits included.
final class BackgroundExecutor: TaskExecutor {
    /// The step recorder's thread, at `BackgroundPriority.niceness`.
    static var shared: BackgroundExecutor { threads.background }
    /// A thread at the event loops' priority, for a recorder so far behind the calls that its
    /// buffer nears the spool (`StepRecorder.flush`): at nice 10 on a saturated host it wrote a
    /// fraction of what arrived, and past its buffer every step went to disk first.
    static var catchUp: BackgroundExecutor { threads.catchUp }
    /// Made together, from the first thread that asks for either: a thread starts at its creator's
    /// nice value, and an unprivileged one cannot come back up from 10 — made from the background
    /// thread, the catch-up thread would be no faster.
    private static let threads = (background: BackgroundExecutor(lowered: true), catchUp: BackgroundExecutor(lowered: false))

    /// True on this executor's thread.
    var isCurrentThread: Bool { loop.inEventLoop }

    private let loop: any EventLoop

    private init(lowered: Bool) {
        loop = MultiThreadedEventLoopGroup(numberOfThreads: 1).next()
        if lowered { loop.execute { BackgroundPriority.lowerCurrentThread() } }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
