import Logging
import ServiceLifecycle

/// Sleeps for `duration`, waking early when graceful shutdown starts or the task is cancelled,
/// so a periodic service never holds a shutdown up by its own interval.
public func sleepUnlessShuttingDown(for duration: Duration) async {
    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
}

/// The loop of a background job: runs `pass` until shutdown — again at once when it says more work
/// is waiting, else after `interval`; a pass that fails is logged (`failure`) and retried after
/// the interval, never ending the job.
public func repeatUntilShutdown(every interval: Duration, logger: Logger, failure: String, _ pass: () async throws -> Bool) async {
    while !Task.isShuttingDownGracefully, !Task.isCancelled {
        var more = false
        do {
            more = try await pass()
        } catch {
            logger.error("\(failure); will retry", metadata: ["error": "\(String(reflecting: error))"])
        }
        if !more { await sleepUnlessShuttingDown(for: interval) }
    }
}
