import ArgumentParser
import Logging
import PostgresNIO

/// Flags every server process shares. Each flag falls back to its environment variable; secrets
/// (database and Redis URLs with passwords) are read from the environment when the flag is absent
/// so they need not appear in a process listing, and `--help` never prints them.
public struct ServiceOptions: ParsableArguments, Sendable {
    @Option(help: "Address to bind (env RUNGATE_HOST).")
    public var host: String = Env.get("RUNGATE_HOST") ?? "127.0.0.1"

    @Option(help: "PostgreSQL URL, postgres://user:password@host:port/db (env RUNGATE_DATABASE_URL; prefer the env).")
    public var databaseURL: String?

    @Option(help: "Redis URL, redis://[:password@]host:port[/db] (env RUNGATE_REDIS_URL; prefer the env).")
    public var redisURL: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env RUNGATE_LOG_LEVEL).")
    public var logLevel: String = Env.get("RUNGATE_LOG_LEVEL") ?? "info"

    @Option(help: "Log format: json or text (env RUNGATE_LOG_FORMAT).")
    public var logFormat: String = Env.get("RUNGATE_LOG_FORMAT") ?? "json"

    public init() {}

    public var resolvedDatabaseURL: String? { databaseURL ?? Env.get("RUNGATE_DATABASE_URL") }
    public var resolvedRedisURL: String? { redisURL ?? Env.get("RUNGATE_REDIS_URL") }

    public func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level \(logLevel)") }
        guard RungateLogging.Format(rawValue: logFormat) != nil else { throw ValidationError("log format must be json or text") }
    }

    /// Bootstraps process-wide logging; call once from `main`.
    public func bootstrapLogging() {
        RungateLogging.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info,
                                 format: RungateLogging.Format(rawValue: logFormat) ?? .json)
    }

    /// The database URL, or a clear error saying how to provide one.
    public func requireDatabaseURL() throws -> String {
        guard let url = resolvedDatabaseURL else {
            throw ValidationError("no database configured: set RUNGATE_DATABASE_URL or pass --database-url")
        }
        return url
    }
}

extension ServiceOptions {
    /// The process's Postgres and Redis clients from these options.
    public func backingServices(applicationName: String, logger: Logger) throws -> BackingServices {
        try BackingServices(databaseURL: try requireDatabaseURL(), redisURL: resolvedRedisURL, applicationName: applicationName, logger: logger)
    }

    /// Runs a one-shot command's `body` with a running Postgres client (for `migrate`, `bootstrap`, `create-token`).
    public func withDatabase(applicationName: String, logger: Logger, _ body: @escaping @Sendable (Database) async throws -> Void) async throws {
        let client = PostgresClient(configuration: try .init(url: try requireDatabaseURL(), applicationName: applicationName), backgroundLogger: logger)
        try await client.whileRunning { client in try await body(Database(client: client, logger: logger)) }
    }
}
