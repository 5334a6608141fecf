import Common
import Foundation
import Logging
import PostgresNIO

/// The throw-away servers `scripts/test` starts. Integration tests fail (never skip) without them.
public enum TestServers {
    public static func databaseURL() throws -> String {
        try required("RUNGATE_TEST_DATABASE_URL")
    }

    public static func redisURL() throws -> String {
        try required("RUNGATE_TEST_REDIS_URL")
    }

    public static func migrationsDirectory() -> URL {
        if let dir = Env.get("RUNGATE_TEST_MIGRATIONS_DIR") { return URL(fileURLWithPath: dir) }
        // Sources/TestSupport/TestServers.swift → repository root.
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("migrations")
    }

    private static func required(_ name: String) throws -> String {
        guard let value = Env.get(name) else {
            throw ConfigurationError("\(name) is not set: run the tests with ./scripts/test, which starts PostgreSQL and Redis")
        }
        return value
    }

    public static let logger: Logger = {
        var logger = Logger(label: "rungate.test")
        logger.logLevel = .error  // postgres-nio warns while a client's run() is starting
        return logger
    }()
}

/// Runs `body` with a running `PostgresClient` for `url`, and stops the client afterwards.
@discardableResult
public func withPostgresClient<T: Sendable>(
    url: String, _ body: @escaping @Sendable (PostgresClient) async throws -> T
) async throws -> T {
    let client = PostgresClient(configuration: try .init(url: url, applicationName: "rungate-test"), backgroundLogger: TestServers.logger)
    return try await client.whileRunning(body)
}

/// Runs `body` with a Redis client on the test server, shut down afterwards.
public func withRedisClient<T: Sendable>(
    poolSize: Int? = nil, _ body: (RedisClient) async throws -> T
) async throws -> T {
    var configuration = try RedisConfiguration(url: try TestServers.redisURL())
    if let poolSize { configuration.poolSize = poolSize }
    let client = RedisClient(configuration: configuration, logger: TestServers.logger)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}
