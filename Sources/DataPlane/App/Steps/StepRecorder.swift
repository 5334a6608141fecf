import Common
import Logging
import ServiceLifecycle
import Synchronization

/// Takes steps (and the outbox events of the data plane) from the request path and writes them in
/// batches, off it.
///
/// `record` and `emit` only append to a buffer. A loop flushes every `interval` (or sooner when a batch is
/// full); a batch whose write fails stays queued and is retried with backoff, never dropped. On
/// graceful shutdown (after the HTTP server has drained) everything still queued is written.
public final class StepRecorder: Service, Sendable {
    private let repository: any StepRepository
    private let logger: Logger
    private let interval: Duration
    private let batchSize: Int
    private let queue = Mutex<(steps: [StepRecord], events: [OutboxEvent])>(([], []))

    public init(repository: any StepRepository, logger: Logger, interval: Duration = .milliseconds(50), batchSize: Int = 500) {
        self.repository = repository
        self.logger = logger
        self.interval = interval
        self.batchSize = batchSize
    }

    public func record(_ step: StepRecord) {
        let depth = queue.withLock { queue in
            queue.steps.append(step)
            return queue.steps.count
        }
        CallMetrics.observe(step)
        CallMetrics.queued.record(depth)
    }

    /// Queues an event not tied to a step (budget lines crossed, drift).
    public func emit(_ event: OutboxEvent) {
        queue.withLock { $0.events.append(event) }
    }

    /// Steps and events waiting to be written.
    public var pending: Int { queue.withLock { $0.steps.count + $0.events.count } }

    public func run() async throws {
        var failures = 0
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await sleepUnlessShuttingDown(for: failures == 0 ? interval : .milliseconds(min(100 << min(failures, 6), 5_000)))
            failures = await flush() ? 0 : failures + 1
        }
        // Drain: the server has stopped taking requests; write what is left, retrying for a while.
        var attempts = 0
        while pending > 0, attempts < 50 {
            if !(await flush()) {
                attempts += 1
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        if pending > 0 {
            logger.critical("steps could not be written before shutdown", metadata: ["count": "\(pending)"])
        }
    }

    /// Writes everything queued, batch by batch; false when a write failed (the batch stays queued).
    @discardableResult
    public func flush() async -> Bool {
        while true {
            let (steps, events) = queue.withLock { queue -> ([StepRecord], [OutboxEvent]) in
                let steps = Array(queue.steps.prefix(batchSize)), events = Array(queue.events.prefix(batchSize))
                queue.steps.removeFirst(steps.count)
                queue.events.removeFirst(events.count)
                return (steps, events)
            }
            CallMetrics.queued.record(pending)
            guard !steps.isEmpty || !events.isEmpty else { return true }
            do {
                // A write stuck on a connection the database dropped is abandoned and retried:
                // batches are idempotent (a step already written is skipped, its run counted once).
                let repository = self.repository
                try await withDeadline(.seconds(15)) { try await repository.insert(steps, events: events) }
            } catch {
                queue.withLock { queue in
                    queue.steps.insert(contentsOf: steps, at: 0)
                    queue.events.insert(contentsOf: events, at: 0)
                }
                logger.error("writing steps failed; will retry", metadata: ["count": "\(steps.count + events.count)", "error": "\(String(reflecting: error))"])
                return false
            }
        }
    }
}
