import Common
import Foundation
import PostgresNIO
import TestSupport
import Testing

@Suite struct MigrationTests {
    @Test func applyToAnEmptyDatabaseThenReapplyAsANoOp() async throws {
        try await TestDatabase.withEmpty { database in
            let migrations = try Migration.load(from: TestServers.migrationsDirectory())
            try await withPostgresClient(url: database.ownerURL) { client in
                let migrator = Migrator(client: client, logger: TestServers.logger)
                let first = try await migrator.migrate(migrations)
                #expect(first == migrations.map(\.version))
                let second = try await migrator.migrate(migrations)
                #expect(second.isEmpty)
                let recorded = try await client.query("SELECT count(*) FROM schema_migrations", logger: TestServers.logger)
                    .first(decoding: Int.self)
                #expect(recorded == migrations.count)
                let schema = try await Database(client: client, logger: TestServers.logger).schemaVersion()
                #expect(schema == SchemaVersion.required)
                // Steps are partitioned: the parent plus monthly partitions and a default one.
                let partitions = try await client.query(
                    "SELECT count(*) FROM pg_inherits WHERE inhparent = 'steps'::regclass", logger: TestServers.logger)
                    .first(decoding: Int.self) ?? 0
                #expect(partitions >= 5)
            }
        }
    }

    @Test func anEditedAppliedMigrationStopsTheRun() async throws {
        try await TestDatabase.with { database in
            var migrations = try Migration.load(from: TestServers.migrationsDirectory())
            migrations[0] = Migration(version: migrations[0].version, name: migrations[0].name, sql: migrations[0].sql + "\n-- edited")
            let edited = migrations
            try await withPostgresClient(url: database.ownerURL) { client in
                await #expect(throws: MigrationError.self) {
                    try await Migrator(client: client, logger: TestServers.logger).migrate(edited)
                }
            }
        }
    }

    @Test func aFailingMigrationRollsBackEntirely() async throws {
        try await TestDatabase.with { database in
            var migrations = try Migration.load(from: TestServers.migrationsDirectory())
            migrations.append(Migration(version: 999, name: "broken", sql: "CREATE TABLE half_done (x int); SELECT no_such_function();"))
            let withBroken = migrations
            try await withPostgresClient(url: database.ownerURL) { client in
                await #expect(throws: MigrationError.self) {
                    try await Migrator(client: client, logger: TestServers.logger).migrate(withBroken)
                }
                let table = try await client.query("SELECT to_regclass('public.half_done') IS NULL", logger: TestServers.logger)
                    .first(decoding: Bool.self)
                #expect(table == true)
                let recorded = try await client.query("SELECT count(*) FROM schema_migrations WHERE version = 999", logger: TestServers.logger)
                    .first(decoding: Int.self)
                #expect(recorded == 0)
            }
        }
    }

    @Test func servicesRefuseAnOlderSchema() async throws {
        try await TestDatabase.withEmpty { database in
            try await withPostgresClient(url: database.ownerURL) { client in
                await #expect(throws: ConfigurationError.self) {
                    try await Database(client: client, logger: TestServers.logger).requireSchema(version: SchemaVersion.required)
                }
            }
        }
    }
}
