import ServiceLifecycle

/// Sleeps for `duration`, waking early when graceful shutdown starts or the task is cancelled,
/// so a periodic service never holds a shutdown up by its own interval.
public func sleepUnlessShuttingDown(for duration: Duration) async {
    try? await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
}
