#if canImport(Glibc)
import Glibc
#endif
import Common
@testable import DataPlane
import Foundation
import Synchronization
import TestSupport
import Testing

/// A step batch is written from the idle-class thread while the writes keep up, and at the calls'
/// own priority when a backlog waits behind it or the queue is drained for shutdown — so the queue
/// never grows for want of CPU.
@Suite struct StepRecorderPriorityTests {
    /// Records the scheduling class each batch was written from, and its size.
    final class Observing: StepRepository {
        let batches = Mutex<[(schedulingClass: Int32, steps: Int)]>([])
        func insert(_ steps: [StepRecord], runs: [NewRun], events: [OutboxEvent]) async throws {
            let schedulingClass = sched_getscheduler(0)
            batches.withLock { $0.append((schedulingClass, steps.count)) }
        }
        func steps(runID: UUID, orgID: UUID) async throws -> [JSONValue] { [] }
    }

    static func record(_ count: Int, on recorder: StepRecorder) {
        let run = NewRun(id: UUID(), orgID: UUID(), agentID: UUID(), policyID: nil, policyVersion: nil)
        recorder.start(run)
        for _ in 0..<count {
            recorder.record(StepRecord(orgID: run.orgID, runID: run.id, kind: .modelCall, endpoint: "/v1/chat/completions", status: "ok"))
        }
    }

    @Test func batchesYieldTheCoreUnlessBehind() async throws {
        let repository = Observing()
        let recorder = try StepRecorder(repository: repository, logger: TestServers.logger, batchSize: 2)
        let idle = BackgroundExecutor.idleClass

        Self.record(1, on: recorder)
        #expect(await recorder.flush(holdingFreshRuns: true))
        #expect(repository.batches.withLock { $0.map(\.schedulingClass) } == [idle])

        // Five steps in batches of two: the first two batches have a backlog behind them.
        repository.batches.withLock { $0 = [] }
        Self.record(5, on: recorder)
        #expect(await recorder.flush(holdingFreshRuns: true))
        let batches = repository.batches.withLock { $0 }
        #expect(batches.map(\.steps) == [2, 2, 1])
        #expect(batches.map { $0.schedulingClass == idle } == [false, false, true])

        // Draining for shutdown does not wait for idle cores.
        repository.batches.withLock { $0 = [] }
        Self.record(1, on: recorder)
        #expect(await recorder.flush())
        #expect(repository.batches.withLock { $0.map { $0.schedulingClass == idle } } == [false])
        #expect(recorder.pending == 0)
    }
}
