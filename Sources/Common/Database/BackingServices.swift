import Logging
import PostgresNIO
import ServiceLifecycle

/// The stateful services a process talks to: PostgreSQL always, Redis when configured.
/// Their clients run as services in the process's `ServiceGroup`, before the HTTP server.
public struct BackingServices: Sendable {
    public let database: Database
    public let redis: RedisClient?
    /// The URL the database client was built from, for a dedicated LISTEN connection. Never logged.
    public let databaseURL: String?

    public init(database: Database, redis: RedisClient?, databaseURL: String? = nil) {
        self.database = database
        self.redis = redis
        self.databaseURL = databaseURL
    }

    /// Creates the clients (connections open lazily when the services run). `databaseHealthTimeout`:
    /// how long the database may leave its health check unanswered (plus a second) before calls
    /// that need it are refused with 503 (`DatabaseHealth`).
    public init(
        databaseURL: String, redisURL: String?, applicationName: String, logger: Logger,
        databaseHealthTimeout: Duration = .seconds(2)
    ) throws {
        let configuration = try PostgresClient.Configuration(url: databaseURL, applicationName: applicationName)
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let redis = try redisURL.map { RedisClient(configuration: try RedisConfiguration(url: $0), logger: logger) }
        let health = DatabaseHealth(client: client, logger: logger, timeout: databaseHealthTimeout)
        self.init(database: Database(client: client, logger: logger, health: health), redis: redis, databaseURL: databaseURL)
    }

    /// The services to run, in dependency order.
    public var services: [any Service] {
        var services: [any Service] = [database.client, database.health]
        if let redis { services.append(redis) }
        return services
    }

    public var readinessChecks: [ReadinessCheck] {
        [.postgres(database), .redis(redis)]
    }
}
