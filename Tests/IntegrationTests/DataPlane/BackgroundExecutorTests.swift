import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import DataPlane

#if canImport(Glibc)
import Glibc
#endif

/// The step recorder's batches and the thread pool's work run below the event loops' priority, off
/// the loops, and a batch leaves the recorder's queue without its steps being copied under the lock.
@Suite struct BackgroundExecutorTests {
    /// The calling thread's nice value (Linux keeps one per thread).
    static func currentNice() -> Int32 {
        getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
    }

    static var onAnEventLoop: Bool {
        MultiThreadedEventLoopGroup.singleton.makeIterator().contains { $0.inEventLoop }
    }

    @Test func workPreferringTheBackgroundExecutorStaysOffTheEventLoopsAtItsPriorityAcrossAwaits() async throws {
        let (before, after) = try await withTaskExecutorPreference(BackgroundExecutor.shared) {
            let before = (Self.onAnEventLoop, Self.currentNice())
            try await Task.sleep(for: .milliseconds(5))
            let after = (Self.onAnEventLoop, Self.currentNice())
            return (before, after)
        }
        #expect(before.0 == false && after.0 == false)
        #expect(before.1 == BackgroundPriority.niceness && after.1 == BackgroundPriority.niceness)
        #expect(BackgroundPriority.niceness > 0)
    }

    @Test func threadPoolWorkRunsAtBackgroundPriorityAndLeavesTheCallerAsItWas() async throws {
        let callerBefore = Self.currentNice()
        let onPool = try await ThreadPoolWork.run { Self.currentNice() }
        #expect(onPool == BackgroundPriority.niceness)
        #expect(Self.currentNice() == callerBefore)
    }

    static func steps(_ count: Int) -> [StepRecord] {
        let run = UUID()
        return (0..<count).map { index in
            var step = StepRecord(orgID: UUID(), runID: run, kind: .modelCall, endpoint: "/v1/chat/completions", status: "ok")
            step.costMicros = Int64(index)
            return step
        }
    }

    /// A queue holding `count` steps without payloads, as `record` leaves it (512 bytes each).
    static func queue(holding count: Int) -> StepRecorder.Queue {
        var queue = StepRecorder.Queue()
        for step in steps(count) {
            queue.steps.append(step)
            queue.payloads.append(nil)
            queue.bytes += 512
        }
        return queue
    }

    @Test func takingEveryQueuedStepEmptiesTheQueueAndKeepsTheirOrder() {
        var queue = Self.queue(holding: 5)
        let taken = queue.takeSteps(upTo: 2000)
        #expect(taken.steps.map(\.costMicros) == [0, 1, 2, 3, 4])
        #expect(taken.payloads.count == 5)
        #expect(queue.steps.isEmpty && queue.payloads.isEmpty && queue.bytes == 0)

        // The queue takes steps again after handing its buffers over.
        queue.steps.append(Self.steps(1)[0])
        queue.payloads.append(nil)
        #expect(queue.takeSteps(upTo: 10).steps.count == 1)
    }

    @Test func takingPartOfABacklogLeavesTheRestInOrder() {
        var queue = Self.queue(holding: 5)
        let taken = queue.takeSteps(upTo: 3)
        #expect(taken.steps.map(\.costMicros) == [0, 1, 2])
        #expect(queue.steps.map(\.costMicros) == [3, 4])
        #expect(queue.payloads.count == 2 && queue.bytes == 2 * 512)
    }
}
