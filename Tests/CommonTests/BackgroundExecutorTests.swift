#if canImport(Glibc)
import Glibc
#endif
import Common
import Testing

/// Work sent to the background executor runs on a thread in the kernel's idle class — before and
/// after it awaits something running elsewhere — and work without the preference does not.
@Suite struct BackgroundExecutorTests {
    /// The calling thread's scheduling class.
    static func schedulingClass() -> Int32 { sched_getscheduler(0) }

    @Test func workWithThePreferenceRunsInTheIdleClass() async throws {
        let (before, after) = try await withTaskExecutorPreference(BackgroundExecutor.shared) {
            let before = Self.schedulingClass()
            try await loopSleep(for: .milliseconds(5))  // resumed by an event loop's timer
            return (before, Self.schedulingClass())
        }
        #expect(before == BackgroundExecutor.idleClass)
        #expect(after == BackgroundExecutor.idleClass)
        #expect(Self.schedulingClass() != BackgroundExecutor.idleClass)
        let child = await withTaskExecutorPreference(BackgroundExecutor.shared) {
            await withTaskGroup(of: Int32.self) { group in
                group.addTask { Self.schedulingClass() }
                return await group.next()!
            }
        }
        #expect(child == BackgroundExecutor.idleClass, "child tasks inherit the preference")
    }
}
