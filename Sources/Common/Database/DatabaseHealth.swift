import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Whether PostgreSQL answers: a `SELECT 1` each second, and the database counts as reachable while
/// one has succeeded within the last `timeout` plus a second. The connection pool queues queries
/// while it cannot connect, so without this a request would wait for a dead database instead of
/// being told at once (503 `database_unavailable`). A check is never cancelled (at most one is in
/// flight): the pool never sees a lease abandoned. Until its first check, and when it does not run
/// (tests), the database counts as reachable.
public final class DatabaseHealth: Service, Sendable {
    private let client: PostgresClient
    private let logger: Logger
    private let reachable = Atomic<Bool>(true)
    private let checking = Atomic<Bool>(false)
    private let lastAnswer = Mutex<ContinuousClock.Instant>(.now)
    private let interval: Duration
    private let timeout: Duration

    public init(client: PostgresClient, logger: Logger, interval: Duration = .seconds(1), timeout: Duration = .seconds(2)) {
        self.client = client
        self.logger = logger
        self.interval = interval
        self.timeout = timeout
    }

    public var isReachable: Bool { reachable.load(ordering: .relaxed) }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            if !checking.exchange(true, ordering: .acquiring) {
                let client = self.client, logger = self.logger
                Task {
                    if (try? await client.query("SELECT 1", logger: logger).first(decoding: Int.self)) == 1 {
                        self.lastAnswer.withLock { $0 = .now }
                    }
                    self.checking.store(false, ordering: .releasing)
                }
            }
            await sleepUnlessShuttingDown(for: interval)
            let answered = ContinuousClock.now - lastAnswer.withLock { $0 } <= timeout + interval
            if reachable.exchange(answered, ordering: .relaxed) != answered {
                if answered { logger.notice("PostgreSQL answers again") } else { logger.error("PostgreSQL does not answer: refusing calls that need it with 503") }
            }
        }
    }
}
