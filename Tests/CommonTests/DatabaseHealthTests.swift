import Common
import Logging
import Synchronization
import Testing
import TestSupport

@Suite struct DatabaseHealthTests {
    /// What the checks saw: how many began, and how many were out at once.
    final class Checks: Sendable {
        private let counts = Mutex((begun: 0, out: 0, mostOut: 0))
        let lost = AsyncStream<Void>.makeStream()
        /// Whether the database answers (the test says when it is back).
        let answering = Atomic<Bool>(false)

        var begun: Int { counts.withLock { $0.begun } }
        var mostOut: Int { counts.withLock { $0.mostOut } }

        /// Counts a check in and out around `answer`, which is given the check's number (from 1).
        func run(_ answer: (Int) async -> Bool) async -> Bool {
            let number = counts.withLock { counts in
                counts.begun += 1
                counts.out += 1
                counts.mostOut = max(counts.mostOut, counts.out)
                return counts.begun
            }
            let answered = await answer(number)
            counts.withLock { $0.out -= 1 }
            return answered
        }

        /// Never returns until the test ends: a query postgres-nio wrote to a closed connection.
        func neverAnswer() async -> Bool {
            for await _ in lost.stream {}
            return false
        }
    }

    private func monitor(_ checks: Checks, timeout: Duration, _ answer: @escaping @Sendable (Int) async -> Bool) -> DatabaseHealth {
        DatabaseHealth(logger: Logger(label: "rungate.test"), interval: .milliseconds(20), timeout: timeout) {
            await checks.run(answer)
        }
    }

    @Test func aCheckThatNeverReturnsDoesNotKeepTheDatabaseUnreachable() async throws {
        let checks = Checks()
        // The first check is lost; the next ones find the database away until the test brings it back.
        let health = monitor(checks, timeout: .milliseconds(40)) { number in
            number == 1 ? await checks.neverAnswer() : checks.answering.load(ordering: .relaxed)
        }
        let running = Task { try await health.run() }
        defer { running.cancel(); checks.lost.continuation.finish() }

        #expect(try await eventually { !health.isReachable }, "an unanswered check makes the database unreachable")
        checks.answering.store(true, ordering: .relaxed)
        #expect(try await eventually { health.isReachable }, "later checks find it again (after \(checks.begun) checks)")
        #expect(checks.begun >= 2)
    }

    @Test func aSlowCheckIsWaitedForWithinItsWindowWithoutAnotherBeginning() async throws {
        let checks = Checks()
        // Each answer takes two intervals, well inside the timeout (a loaded machine can stretch a
        // 40 ms sleep many times over): one check at a time, and the database stays reachable.
        let health = monitor(checks, timeout: .seconds(5)) { _ in
            try? await Task.sleep(for: .milliseconds(40))
            return true
        }
        let running = Task { try await health.run() }
        defer { running.cancel() }

        #expect(try await eventually { checks.begun >= 6 })
        #expect(health.isReachable)
        #expect(checks.mostOut == 1, "checks never overlap while each answers within its window")
    }
}
