import Synchronization

/// A piece of work that did not finish in time (a dependency that stopped answering).
public struct DeadlineExceeded: Error, Sendable {
    public let after: Duration
}

/// Runs `body`, or gives up after `duration` — returning at once even though the work goes on (a
/// query waiting in the connection pool's queue waits for as long as the database is away). The
/// work is not cancelled: it is left to finish on its own, so a pool never sees a lease abandoned
/// half-way.
public func withDeadline<T: Sendable>(_ duration: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let ends = ContinuousClock.now + duration
    return try await withDeadline(until: { ends }, recheckingEvery: duration, body)
}

/// Like `withDeadline(_:_:)`, for a deadline that may move earlier while `body` runs (a shutdown
/// shortening a write's allowance): `deadline` is asked again at least every `recheckingEvery`.
/// `executor`: where `body` runs (it runs in a task of its own, which does not inherit the caller's
/// executor preference); nil: the global executor.
public func withDeadline<T: Sendable>(until deadline: @escaping @Sendable () -> ContinuousClock.Instant,
                                      recheckingEvery: Duration = .milliseconds(100), on executor: (any TaskExecutor)? = nil,
                                      _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await abandoning(body, on: executor) {
        let remaining = deadline() - .now
        return remaining <= .zero ? nil : min(remaining, recheckingEvery)
    }
}

/// Runs `body`, or gives up — the same way, `DeadlineExceeded` — once `shouldGiveUp` says so, which
/// is asked every `recheckingEvery` (a lost query noticed by its connection having closed).
public func withDeadline<T: Sendable>(unless shouldGiveUp: @escaping @Sendable () -> Bool,
                                      recheckingEvery: Duration,
                                      _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await abandoning(body) { shouldGiveUp() ? nil : recheckingEvery }
}

/// Races `body` against a watcher that asks `nextCheck` how long to wait before asking again, and
/// gives up when it answers nil.
private func abandoning<T: Sendable>(_ body: @escaping @Sendable () async throws -> T, on executor: (any TaskExecutor)? = nil,
                                     nextCheck: @escaping @Sendable () -> Duration?) async throws -> T {
    let once = ResumeOnce<T>()
    let started = ContinuousClock.now
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        once.set(continuation)
        Task(executorPreference: executor) {
            do { once.resume(with: .success(try await body())) } catch { once.resume(with: .failure(error)) }
        }
        Task {
            while !once.isResumed {
                guard let wait = nextCheck() else {
                    once.resume(with: .failure(DeadlineExceeded(after: .now - started)))
                    return
                }
                try? await loopSleep(for: wait)
            }
        }
    }
}

/// A continuation resumed by whichever of two racers comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let pending = Mutex<CheckedContinuation<T, any Error>?>(nil)
    private let resumed = Atomic<Bool>(false)

    var isResumed: Bool { resumed.load(ordering: .acquiring) }

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        pending.withLock { $0 = continuation }
    }

    @discardableResult
    func resume(with result: Result<T, any Error>) -> Bool {
        guard let continuation = pending.withLock({ pending -> CheckedContinuation<T, any Error>? in
            defer { pending = nil }
            return pending
        }) else { return false }
        resumed.store(true, ordering: .releasing)
        continuation.resume(with: result)
        return true
    }
}
