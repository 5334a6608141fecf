import Metrics
import NIOCore
import NIOPosix
import ServiceLifecycle

/// How late each event loop runs a timer: `rungate_event_loop_lag_seconds`. Everything the data plane
/// does runs on its event loops, so milliseconds of work on one (a large batch encoded, a slow
/// synchronous call) delay every request on that loop by as much — the tail latency a benchmark
/// sees, and what this shows in production. Sampled every `interval` per loop (a sample lands in a
/// blocked stretch in proportion to its share of the time), like Node's event-loop delay monitor.
public struct EventLoopLagMonitor: Service {
    public static let metricLabel = "rungate_event_loop_lag_seconds"

    let group: MultiThreadedEventLoopGroup
    let interval: TimeAmount
    let record: @Sendable (TimeAmount) -> Void

    public init(group: MultiThreadedEventLoopGroup = .singleton, interval: TimeAmount = .milliseconds(250)) {
        let timer = Timer(label: Self.metricLabel)
        self.init(group: group, interval: interval) { lag in timer.recordNanoseconds(lag.nanoseconds) }
    }

    init(group: MultiThreadedEventLoopGroup, interval: TimeAmount, record: @escaping @Sendable (TimeAmount) -> Void) {
        self.group = group
        self.interval = interval
        self.record = record
    }

    public func run() async throws {
        let interval = self.interval, record = self.record
        let tasks = group.makeIterator().map { loop in
            let due = NIOLoopBoundBox.makeBoxSendingValue(NIODeadline.now() + interval, as: NIODeadline.self, eventLoop: loop)
            return loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                let now = NIODeadline.now()
                record(max(now - due.value, .zero))
                // The next run is due `interval` after this one (a fixed delay, not a fixed rate).
                due.value = now + interval
            }
        }
        try? await gracefulShutdown()
        for task in tasks { task.cancel() }
    }
}
