import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import DataPlane

/// The step recorder's batches and the thread pool's work run below the event loops' priority, off
/// the loops, and a batch leaves the recorder's queue without its steps being copied under the lock.
@Suite struct BackgroundExecutorTests {
    static var onAnEventLoop: Bool {
        MultiThreadedEventLoopGroup.singleton.makeIterator().contains { $0.inEventLoop }
    }

    @Test func workPreferringTheBackgroundExecutorStaysOffTheEventLoopsAtItsPriorityAcrossAwaits() async throws {
        let (before, after) = try await withTaskExecutorPreference(BackgroundExecutor.shared) {
            let before = (Self.onAnEventLoop, BackgroundPriority.currentThreadNiceness)
            try await Task.sleep(for: .milliseconds(5))
            let after = (Self.onAnEventLoop, BackgroundPriority.currentThreadNiceness)
            return (before, after)
        }
        #expect(before.0 == false && after.0 == false)
        #expect(before.1 == BackgroundPriority.niceness && after.1 == BackgroundPriority.niceness)
        #expect(BackgroundPriority.niceness > 0)
    }

    @Test func threadPoolWorkRunsAtBackgroundPriorityAndLeavesTheCallerAsItWas() async throws {
        let callerBefore = BackgroundPriority.currentThreadNiceness
        let onPool = try await ThreadPoolWork.run { BackgroundPriority.currentThreadNiceness }
        #expect(onPool == BackgroundPriority.niceness)
        #expect(BackgroundPriority.currentThreadNiceness == callerBefore)
    }

    /// A queue holding `count` steps without payloads, as `record` leaves it (512 bytes each).
    static func queue(holding count: Int) -> StepRecorder.Queue {
        var queue = StepRecorder.Queue()
        let run = NewRun(id: UUID(), orgID: UUID(), agentID: UUID(), policyID: nil, policyVersion: nil)
        for step in (0..<count).map({ StepSpoolTests.step($0, of: run) }) {
            queue.steps.append(step)
            queue.payloads.append(nil)
            queue.bytes += 512
        }
        return queue
    }

    @Test func takingEveryQueuedStepEmptiesTheQueueAndKeepsTheirOrder() throws {
        var queue = Self.queue(holding: 5)
        let taken = queue.takeSteps(upTo: 2000)
        #expect(taken.steps.map(\.costMicros) == [0, 1, 2, 3, 4])
        #expect(taken.payloads.count == 5)
        #expect(queue.steps.isEmpty && queue.payloads.isEmpty && queue.bytes == 0)

        // The queue takes steps again after handing its buffers over.
        queue.steps.append(try #require(taken.steps.first))
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
