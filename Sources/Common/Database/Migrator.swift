import Logging
import PostgresNIO

/// Applies `migrations/` to a database: in version order, each file in its own transaction,
/// recorded with its checksum in `schema_migrations`, under an advisory lock so two processes
/// migrating at once cannot race. Re-running applies nothing; an applied file whose text changed
/// stops the run (a migration is immutable once applied: add a new one instead).
public struct Migrator: Sendable {
    /// Arbitrary, fixed: identifies Rungate's migration lock among other advisory locks.
    static let advisoryLockKey: Int64 = 0x5255_4E47_4154_45  // "RUNGATE"

    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Applies what is pending and returns the versions it applied.
    @discardableResult
    public func migrate(_ migrations: [Migration]) async throws -> [Int] {
        try await client.withConnection { connection in
            try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))", logger: logger)
            do {
                let applied = try await apply(migrations, on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: logger)
                throw error
            }
        }
    }

    private func apply(_ migrations: [Migration], on connection: PostgresConnection) async throws -> [Int] {
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                checksum text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        var recorded: [Int: String] = [:]
        for try await (version, checksum) in try await connection.query(
            "SELECT version, checksum FROM schema_migrations", logger: logger
        ).decode((Int, String).self) {
            recorded[version] = checksum
        }
        let known = Set(migrations.map(\.version))
        if let unknown = recorded.keys.sorted().first(where: { !known.contains($0) }) {
            throw MigrationError("the database has migration \(unknown) applied, which this build does not know: deploy the newer build")
        }

        var applied: [Int] = []
        for migration in migrations {
            if let checksum = recorded[migration.version] {
                guard checksum == migration.checksum else {
                    throw MigrationError(
                        "migration \(migration.version)_\(migration.name) was changed after it was applied: restore it and add a new migration instead")
                }
                continue
            }
            logger.info("applying migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            try await connection.query("BEGIN", logger: logger)
            do {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (\(migration.version), \(migration.name), \(migration.checksum))",
                    logger: logger)
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw MigrationError("migration \(migration.version)_\(migration.name) failed: \(String(reflecting: error))")
            }
            applied.append(migration.version)
        }
        return applied
    }
}

public struct MigrationError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
