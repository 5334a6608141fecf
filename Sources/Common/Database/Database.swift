import Logging
import NIOCore
import PostgresNIO

/// The process's PostgreSQL access: a pooled `PostgresClient` plus the few helpers every
/// repository needs. The client itself runs as a service in the process's `ServiceGroup`.
public struct Database: Sendable {
    public let client: PostgresClient
    public let logger: Logger
    /// Whether the server answers (its monitor runs among the backing services).
    public let health: DatabaseHealth

    public init(client: PostgresClient, logger: Logger, health: DatabaseHealth? = nil) {
        self.client = client
        self.logger = logger
        self.health = health ?? DatabaseHealth(client: client, logger: logger)
    }

    /// Refuses at once, with 503 `database_unavailable`, while the database does not answer.
    public func requireReachable() throws {
        guard health.isReachable else { throw RungateError.dependencyUnavailable("database") }
    }

    /// Runs `body` on a pooled connection, and fails with 503 `database_unavailable` instead of
    /// waiting on when the database is away: while still waiting for a connection once the health
    /// check says PostgreSQL does not answer (the pool would hold the call until it does, or ~15 s;
    /// `body` then never runs), or once the connection it runs on has closed (a query the closing
    /// failed fails anyway; this catches the one it lost: postgres-nio 1.33 can lease a connection
    /// PostgreSQL has just closed, and a query it writes there, with no write promise and the
    /// channel's handler gone, is never completed). Checked every 100 ms; `body` is left to finish.
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let watch = LeaseWatch(), health = self.health, client = self.client
        do {
            return try await withDeadline(unless: { watch.shouldGiveUp(databaseReachable: health.isReachable) }, recheckingEvery: .milliseconds(100)) {
                try await client.withConnection { connection in
                    guard watch.start(on: connection) else { throw RungateError.dependencyUnavailable("database") }
                    return try await body(connection)
                }
            }
        } catch is DeadlineExceeded {
            throw RungateError.dependencyUnavailable("database")
        }
    }

    /// Runs one statement and hands its rows to `read`: on `connection` (a transaction's) when
    /// given, else on a pooled connection guarded like `withConnection(_:)` — for request paths,
    /// where `client.query` would lease inside postgres-nio and a lost query could not be noticed.
    public func query<Result: Sendable>(
        _ query: PostgresQuery, on connection: PostgresConnection? = nil,
        _ read: @escaping @Sendable (PostgresRowSequence) async throws -> Result = { _ in }
    ) async throws -> Result {
        let logger = self.logger
        if let connection { return try await read(connection.query(query, logger: logger)) }
        return try await withConnection { connection in try await read(connection.query(query, logger: logger)) }
    }

    /// Runs `body` in a transaction; commits when it returns, rolls back when it throws, and
    /// rethrows the body's own error (not postgres-nio's wrapper) so domain errors keep their status.
    public func transaction<Result: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        let logger = self.logger
        return try await withConnection { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                let result = try await body(connection)
                try await connection.query("COMMIT", logger: logger)
                return result
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Answers whether the database accepts a trivial query within `timeout`. The query is left
    /// to finish on its own past the deadline: a query postgres-nio lost never returns, even
    /// when cancelled (see `DatabaseHealth`).
    public func ping(timeout: Duration = .seconds(2)) async -> Bool {
        let client = self.client, logger = self.logger
        return (try? await withDeadline(timeout) {
            try await client.query("SELECT 1", logger: logger).first(decoding: Int.self)
        }) == 1
    }

    /// The highest applied migration version, or nil when the schema has never been migrated.
    public func schemaVersion() async throws -> Int? {
        let exists = try await client.query("SELECT to_regclass('public.schema_migrations') IS NOT NULL", logger: logger)
            .first(decoding: Bool.self) ?? false
        guard exists else { return nil }
        return try await client.query("SELECT max(version) FROM schema_migrations", logger: logger)
            .first(decoding: Int?.self) ?? nil
    }

    /// Refuses to serve on a schema older than this build expects.
    public func requireSchema(version expected: Int) async throws {
        let applied = try await schemaVersion()
        guard let applied, applied >= expected else {
            throw ConfigurationError(
                "the database schema is at version \(applied.map(String.init) ?? "none"), this build needs \(expected): run `rungate-control migrate` first")
        }
    }
}

extension PostgresRowSequence {
    /// The first row decoded as `T`, or nil when there is none.
    public func first<T: PostgresDecodable & Sendable>(decoding _: T.Type) async throws -> T? {
        for try await value in self.decode(T.self) { return value }
        return nil
    }

    /// Every row decoded as `T`.
    public func all<T: PostgresDecodable & Sendable>(decoding _: T.Type) async throws -> [T] {
        var values: [T] = []
        for try await value in self.decode(T.self) { values.append(value) }
        return values
    }

    /// The first row decoded as a tuple of columns, or nil when there is none.
    public func firstRow<each Column: PostgresDecodable & Sendable>(
        decoding _: (repeat each Column).Type
    ) async throws -> (repeat each Column)? {
        for try await row in self {
            return try row.decode((repeat each Column).self)
        }
        return nil
    }

    /// Every row decoded as a tuple of columns.
    public func allRows<each Column: PostgresDecodable & Sendable>(
        decoding _: (repeat each Column).Type
    ) async throws -> [(repeat each Column)] {
        var rows: [(repeat each Column)] = []
        for try await row in self { rows.append(try row.decode((repeat each Column).self)) }
        return rows
    }
}
