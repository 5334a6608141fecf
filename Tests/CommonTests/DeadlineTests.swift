import Common
import Synchronization
import Testing
import TestSupport

/// `withDeadline`: the caller is answered when the work finishes or when it is given up on, and work
/// given up on is left running (never cancelled: a pooled connection's lease is never abandoned half-way).
@Suite(.timeLimit(.minutes(1))) struct DeadlineTests {
    /// Work that never finishes until the test lets it: a query postgres-nio lost.
    final class Held: Sendable {
        private let released = AsyncStream<Void>.makeStream()
        private let state = Mutex((cancelled: false, finished: false))
        var cancelled: Bool { state.withLock { $0.cancelled } }
        var finished: Bool { state.withLock { $0.finished } }

        func run() async -> Int {
            for await _ in released.stream {}
            state.withLock { $0 = (Task.isCancelled, true) }
            return 1
        }

        func release() { released.continuation.finish() }
    }

    /// What the test changes while the work runs, and whether the caller was answered.
    final class Control: Sendable {
        let deadline = Mutex(ContinuousClock.now + .seconds(3600))
        let giveUp = Atomic<Bool>(false)
        let answered = Atomic<Bool>(false)
    }

    @Test func workThatOutlivesItsDeadlineIsGivenUpOnButNotCancelled() async throws {
        let held = Held()
        await #expect(throws: DeadlineExceeded.self) { try await withDeadline(.milliseconds(20)) { await held.run() } }
        held.release()
        #expect(try await eventually { held.finished })
        #expect(!held.cancelled)
    }

    @Test func aDeadlineMovedEarlierIsObeyedAtTheNextCheck() async throws {
        let held = Held(), control = Control()
        defer { held.release() }
        let waiting = Task { try await withDeadline(until: { control.deadline.withLock { $0 } }, recheckingEvery: .milliseconds(10)) { await held.run() } }
        control.deadline.withLock { $0 = .now }
        await #expect(throws: DeadlineExceeded.self) { try await waiting.value }
    }

    @Test func aConditionGivesUpOnlyOnceItHolds() async throws {
        let held = Held(), control = Control()
        defer { held.release() }
        let waiting = Task {
            defer { control.answered.store(true, ordering: .relaxed) }
            return try await withDeadline(unless: { control.giveUp.load(ordering: .relaxed) }, recheckingEvery: .milliseconds(10)) { await held.run() }
        }
        try await Task.sleep(for: .milliseconds(50))  // five checks
        let answeredEarly = control.answered.load(ordering: .relaxed)
        #expect(!answeredEarly)
        control.giveUp.store(true, ordering: .relaxed)
        await #expect(throws: DeadlineExceeded.self) { try await waiting.value }
    }

    @Test func workThatFinishesFirstAnswersWithItsResultOrError() async throws {
        #expect(try await withDeadline(unless: { false }, recheckingEvery: .milliseconds(10)) { 7 } == 7)
        struct Failed: Error {}
        await #expect(throws: Failed.self) { try await withDeadline(.seconds(3600)) { throw Failed() } }
    }
}
