import Hummingbird

/// A piece of work that did not finish in time (a dependency that stopped answering).
public struct DeadlineExceeded: Error, Sendable {
    public let after: Duration
}

/// Runs `body`, or gives up after `duration` (the work is cancelled: a query still waiting for a
/// database connection leaves the pool's queue).
public func withDeadline<T: Sendable>(_ duration: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: duration)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw DeadlineExceeded(after: duration) }
        return value
    }
}
