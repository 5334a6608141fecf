import Logging
import ServiceLifecycle

/// Sleeps for `duration`, waking early when graceful shutdown starts or the task is cancelled,
/// so a periodic service never holds a shutdown up by its own interval.
public func sleepUnlessShuttingDown(for duration: Duration) async {
    try? await cancelWhenGracefulShutdown { try await loopSleep(for: duration) }
}

/// The loop of a background job: runs `pass` until shutdown — again at once when it says more work
/// is waiting, else after `interval`; a pass that fails, or is not done within `deadline` (a query
/// stuck on a connection the database dropped), is logged (`failure`) and the job goes on.
public func repeatUntilShutdown(
    every interval: Duration, deadline: Duration, logger: Logger, failure: String, _ pass: @escaping @Sendable () async throws -> Bool
) async {
    while !Task.isShuttingDownGracefully, !Task.isCancelled {
        var more = false
        do {
            more = try await withDeadline(deadline, pass)
        } catch {
            logger.error("\(failure); will retry", metadata: ["error": "\(String(reflecting: error))"])
        }
        if !more { await sleepUnlessShuttingDown(for: interval) }
    }
}
