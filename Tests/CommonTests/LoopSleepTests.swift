import Common
import Testing

/// Sleeps on an event loop's timer behave as `Task.sleep` does: they last their duration, and a
/// cancelled task wakes at once with `CancellationError`.
@Suite struct LoopSleepTests {
    @Test func aSleepLastsItsDuration() async throws {
        let started = ContinuousClock.now
        try await loopSleep(for: .milliseconds(50))
        #expect(ContinuousClock.now - started >= .milliseconds(50))
        try await loopSleep(for: .zero)
    }

    @Test func aCancelledSleepThrowsAtOnce() async throws {
        let sleeper = Task { try await loopSleep(for: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(20))
        let cancelledAt = ContinuousClock.now
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(ContinuousClock.now - cancelledAt < .seconds(30))
        // Cancelled before it starts: throws without sleeping.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await loopSleep(for: .seconds(60))
        }
        await #expect(throws: CancellationError.self) { try await early.value }
    }
}
