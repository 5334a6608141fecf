import Synchronization

/// A piece of work that did not finish in time (a dependency that stopped answering).
public struct DeadlineExceeded: Error, Sendable {
    public let after: Duration
}

/// Runs `body`, or gives up after `duration` — returning at once even when the work does not stop
/// on cancellation (a query waiting in the connection pool's queue can wait for as long as the
/// database is away). The work is cancelled and left to finish on its own.
public func withDeadline<T: Sendable>(_ duration: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = ResumeOnce<T>()
    return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        once.set(continuation)
        let work = Task {
            do { once.resume(with: .success(try await body())) } catch { once.resume(with: .failure(error)) }
        }
        Task {
            try? await Task.sleep(for: duration)
            if once.resume(with: .failure(DeadlineExceeded(after: duration))) { work.cancel() }
        }
    }
}

/// A continuation resumed by whichever of two racers comes first.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let pending = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        pending.withLock { $0 = continuation }
    }

    @discardableResult
    func resume(with result: Result<T, any Error>) -> Bool {
        guard let continuation = pending.withLock({ pending -> CheckedContinuation<T, any Error>? in
            defer { pending = nil }
            return pending
        }) else { return false }
        continuation.resume(with: result)
        return true
    }
}
