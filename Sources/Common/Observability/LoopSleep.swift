import NIOCore
import NIOPosix
import Synchronization

/// `Task.sleep(for:)` on an event loop's timer. Swift's own sleep arms a libdispatch timer: its
/// manager thread, then a dispatch worker, then the thread that runs the task are woken for every
/// tick of every periodic job (strace, bench/RESULTS.md session 11); here the loop that fires the
/// timer resumes the task. Throws `CancellationError` when the task is cancelled, as `Task.sleep` does.
public func loopSleep(for duration: Duration) async throws {
    let timer = LoopTimer()
    try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            timer.start(continuation, after: duration)
        }
    } onCancel: {
        timer.cancel()
    }
}

/// One sleep: resumed once, by its timer or by cancellation, whichever comes first.
private final class LoopTimer: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<Void, any Error>?, scheduled: Scheduled<Void>?, cancelled: Bool)>((nil, nil, false))

    func start(_ continuation: CheckedContinuation<Void, any Error>, after duration: Duration) {
        let cancelled = state.withLock { state in
            if !state.cancelled { state.continuation = continuation }
            return state.cancelled
        }
        guard !cancelled else { return continuation.resume(throwing: CancellationError()) }
        let delay = max(TimeAmount(duration), .zero)
        let scheduled = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: delay) { self.resume(with: .success(())) }
        state.withLock { $0.scheduled = scheduled }
    }

    func cancel() {
        let scheduled = state.withLock { state in
            state.cancelled = true
            return state.scheduled
        }
        scheduled?.cancel()
        resume(with: .failure(CancellationError()))
    }

    private func resume(with result: Result<Void, any Error>) {
        let continuation = state.withLock { state in
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(with: result)
    }
}
