import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Whether PostgreSQL answers: a `SELECT 1` each second, and the database counts as reachable while
/// one has succeeded within the last `timeout` plus a second. The connection pool queues queries
/// while it cannot connect, so without this a request would wait for a dead database instead of
/// being told at once (503 `database_unavailable`). Until its first check, and when it does not run
/// (tests), the database counts as reachable.
///
/// A check is never cancelled (the pool never sees a lease abandoned), and one unanswered for
/// `timeout` plus a second is left to finish on its own while the next begins. Waiting for it
/// instead would be waiting forever when it is lost: postgres-nio 1.33 can lease a connection
/// PostgreSQL has just closed, and a query written to it then never completes (seen under a fast
/// shutdown; one such check kept a control plane answering 503 after PostgreSQL was back).
public final class DatabaseHealth: Service, Sendable {
    private struct Checks {
        var lastAnswer: ContinuousClock.Instant = .now
        /// When the check being waited for began; nil while none is.
        var started: ContinuousClock.Instant?
        var generation = 0
    }

    private let check: @Sendable () async -> Bool
    private let logger: Logger
    private let reachable = Atomic<Bool>(true)
    private let checks = Mutex(Checks())
    private let interval: Duration
    private let timeout: Duration

    public convenience init(client: PostgresClient, logger: Logger, interval: Duration = .seconds(1), timeout: Duration = .seconds(2)) {
        self.init(logger: logger, interval: interval, timeout: timeout) {
            (try? await client.query("SELECT 1", logger: logger).first(decoding: Int.self)) == 1
        }
    }

    /// A monitor asking `check` whether the database answers (tests give it their own).
    public init(logger: Logger, interval: Duration, timeout: Duration, check: @escaping @Sendable () async -> Bool) {
        self.check = check
        self.logger = logger
        self.interval = interval
        self.timeout = timeout
    }

    public var isReachable: Bool { reachable.load(ordering: .relaxed) }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            startCheck()
            await sleepUnlessShuttingDown(for: interval)
            let answered = ContinuousClock.now - checks.withLock { $0.lastAnswer } <= timeout + interval
            if reachable.exchange(answered, ordering: .relaxed) != answered {
                if answered { logger.notice("PostgreSQL answers again") } else { logger.error("PostgreSQL does not answer: refusing calls that need it with 503") }
            }
        }
    }

    /// Begins a check unless one begun less than `timeout` plus a second ago is still out.
    private func startCheck() {
        let now = ContinuousClock.now
        let generation = checks.withLock { checks -> Int? in
            if let started = checks.started, now - started < timeout + interval { return nil }
            checks.started = now
            checks.generation += 1
            return checks.generation
        }
        guard let generation else { return }
        let check = self.check
        Task {
            let answered = await check()
            self.checks.withLock { checks in
                if answered { checks.lastAnswer = .now }
                if checks.generation == generation { checks.started = nil }
            }
        }
    }
}
