import Common
import Foundation
import NIOCore
import NIOPosix
import Synchronization
import TestSupport
import Testing

@testable import DataPlane

/// The step recorder's batches and the thread pool's work run below the event loops' priority, off
/// the loops — at their priority, on a thread of its own, while the recorder is far behind — and a
/// batch leaves the recorder's queue without its steps being copied under the lock.
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

    @Test func theCatchUpExecutorStaysOffTheEventLoopsAtTheLoopsPriority() async throws {
        let caller = BackgroundPriority.currentThreadNiceness
        let (onALoop, niceness) = try await withTaskExecutorPreference(BackgroundExecutor.catchUp) {
            try await Task.sleep(for: .milliseconds(5))
            return (Self.onAnEventLoop, BackgroundPriority.currentThreadNiceness)
        }
        #expect(onALoop == false)
        #expect(niceness == caller)
    }

    @Test func computationHandedOverWhileCatchingUpRunsInPlace() async {
        let catchingUp = await withTaskExecutorPreference(BackgroundExecutor.catchUp) {
            await ThreadPoolWork.runOrInline { BackgroundExecutor.catchUp.isCurrentThread }
        }
        #expect(catchingUp)
        // From the recorder's usual thread it goes to the pool (at the same background priority).
        let usual = await withTaskExecutorPreference(BackgroundExecutor.shared) {
            await ThreadPoolWork.runOrInline { (BackgroundExecutor.shared.isCurrentThread, BackgroundPriority.currentThreadNiceness) }
        }
        #expect(usual.0 == false && usual.1 == BackgroundPriority.niceness)
    }

    /// Where each write ran, and at what priority (the usual write runs on the global executor: Swift's pool
    /// in tests, the event loops in the data plane — both at the loops' priority).
    final class WriteLog: StepRepository {
        let niceness = Mutex<[Int32]>([])
        let onCatchUpThread = Mutex<[Bool]>([])
        func insert(_ steps: [StepRecord], runs: [NewRun], events: [OutboxEvent]) async throws {
            niceness.withLock { $0.append(BackgroundPriority.currentThreadNiceness) }
            onCatchUpThread.withLock { $0.append(BackgroundExecutor.catchUp.isCurrentThread) }
        }
        func steps(runID: UUID, orgID: UUID) async throws -> [JSONValue] { [] }
    }

    /// Past a quarter of its buffer the recorder writes from the catch-up thread; back under, as usual.
    @Test func aRecorderFarBehindWritesFromTheCatchUpThreadUntilBackUnderAQuarterOfItsBuffer() async throws {
        let log = WriteLog()
        // 4 KB of buffer: more than 1 KB queued (three steps of 512 bytes) is behind.
        let recorder = try StepRecorder(repository: log, logger: TestServers.logger, batchSize: 2, memoryLimitBytes: 4096)
        let run = NewRun(id: UUID(), orgID: UUID(), agentID: UUID(), policyID: nil, policyVersion: nil)
        for index in 0..<5 { recorder.record(StepSpoolTests.step(index, of: run)) }
        let caller = BackgroundPriority.currentThreadNiceness
        let written = await withTaskExecutorPreference(BackgroundExecutor.shared) { await recorder.flush() }
        #expect(written)
        // Five steps queued (behind), then three (behind), then one (not).
        let onCatchUpThread = log.onCatchUpThread.withLock { $0 }
        #expect(onCatchUpThread == [true, true, false])
        #expect(log.niceness.withLock { $0 } == [caller, caller, caller])
        #expect(recorder.pending == 0)
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
