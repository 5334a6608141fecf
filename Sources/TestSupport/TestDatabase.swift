import Common
import Foundation
import Logging
import PostgresNIO

/// A fresh database for one test, copied from a template that is migrated once per test run
/// (Swift Package Index's way): tests stay isolated and fast.
public struct TestDatabase: Sendable {
    public let name: String
    /// Connects as the cluster superuser (the database owner, as `migrate` does).
    public let ownerURL: String

    /// The login password the test cluster gives the three roles. A fixture of a throw-away cluster.
    public static let rolePassword = "rungate-test-role-password"

    /// The URL a process connects with: as `rungate_control`, `rungate_data` or `rungate_platform`.
    public func url(role: String) throws -> String {
        try Self.replacing(ownerURL, user: role, password: Self.rolePassword, database: name)
    }

    /// Creates a database from the migrated template, runs `body`, then drops it.
    @discardableResult
    public static func with<T: Sendable>(_ body: @escaping @Sendable (TestDatabase) async throws -> T) async throws -> T {
        try await withNew(prefix: "rg_test", template: try await TemplateDatabase.shared.name(), body)
    }

    /// An empty database (no migrations), for migration tests.
    @discardableResult
    public static func withEmpty<T: Sendable>(_ body: @escaping @Sendable (TestDatabase) async throws -> T) async throws -> T {
        try await withNew(prefix: "rg_empty", template: nil, body)
    }

    private static func withNew<T: Sendable>(
        prefix: String, template: String?, _ body: @escaping @Sendable (TestDatabase) async throws -> T
    ) async throws -> T {
        let name = "\(prefix)_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
        let adminURL = try TestServers.databaseURL()
        try await withPostgresClient(url: adminURL) { client in
            let sql = template.map { "CREATE DATABASE \(name) TEMPLATE \($0)" } ?? "CREATE DATABASE \(name)"
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: TestServers.logger)
        }
        let database = TestDatabase(name: name, ownerURL: try replacing(adminURL, database: name))
        do {
            let result = try await body(database)
            try await database.drop()
            return result
        } catch {
            try? await database.drop()
            throw error
        }
    }

    func drop() async throws {
        try await withPostgresClient(url: try TestServers.databaseURL()) { client in
            try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: TestServers.logger)
        }
    }

    static func replacing(_ url: String, user: String? = nil, password: String? = nil, database: String) throws -> String {
        guard var components = URLComponents(string: url) else { throw ConfigurationError("bad test database URL") }
        if let user { components.user = user }
        if let password { components.password = password }
        components.path = "/" + database
        guard let string = components.string else { throw ConfigurationError("bad test database URL") }
        return string
    }
}

/// The migrated template, created once per process.
actor TemplateDatabase {
    static let shared = TemplateDatabase()
    private var created: Task<String, any Error>?

    func name() async throws -> String {
        if let created { return try await created.value }
        let task = Task { try await Self.create() }
        created = task
        return try await task.value
    }

    private static func create() async throws -> String {
        let name = "rg_template_\(ProcessInfo.processInfo.processIdentifier)_\(UInt32.random(in: 0...UInt32.max))"
        let adminURL = try TestServers.databaseURL()
        try await withPostgresClient(url: adminURL) { client in
            try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: TestServers.logger)
        }
        let migrations = try Migration.load(from: TestServers.migrationsDirectory())
        try await withPostgresClient(url: try TestDatabase.replacing(adminURL, database: name)) { client in
            try await Migrator(client: client, logger: TestServers.logger).migrate(migrations)
            for role in ["rungate_control", "rungate_data", "rungate_platform"] {
                try await client.query(
                    PostgresQuery(unsafeSQL: "ALTER ROLE \(role) LOGIN PASSWORD '\(TestDatabase.rolePassword)'"), logger: TestServers.logger)
            }
        }
        return name
    }
}
