import Common
import Foundation
import PostgresNIO
import TestSupport
import Testing

/// "Platform admin cannot read customer run data" is enforced by the database: these connect as
/// each role with its own login and try.
@Suite struct DatabaseRoleTests {
    static let customerDataTables = ["runs", "steps", "payloads", "artifacts", "approvals", "provider_keys", "org_data_keys",
                                     "steps_default", "payloads_default"]

    @Test func platformRoleIsRefusedEveryCustomerDataTable() async throws {
        try await TestDatabase.with { database in
            try await withPostgresClient(url: try database.url(role: "rungate_platform")) { client in
                for table in Self.customerDataTables {
                    let error = await #expect(throws: PSQLError.self, "SELECT on \(table)") {
                        try await client.query(PostgresQuery(unsafeSQL: "SELECT * FROM \(table) LIMIT 1"), logger: TestServers.logger).collect()
                    }
                    #expect(error?.serverInfo?[.sqlState] == "42501", "\(table) must be permission denied")
                }
                // What it may do: read accounts and write its own audit trail, but never rewrite it.
                _ = try await client.query("SELECT count(*) FROM orgs", logger: TestServers.logger).first(decoding: Int.self)
                try await client.query("INSERT INTO platform_audit_log (action) VALUES ('test')", logger: TestServers.logger)
                for statement in ["UPDATE platform_audit_log SET action = 'x'", "DELETE FROM platform_audit_log"] {
                    let error = await #expect(throws: PSQLError.self) {
                        try await client.query(PostgresQuery(unsafeSQL: statement), logger: TestServers.logger)
                    }
                    #expect(error?.serverInfo?[.sqlState] == "42501")
                }
            }
        }
    }

    @Test func dataAndControlRolesCannotTouchPlatformTokens() async throws {
        try await TestDatabase.with { database in
            for role in ["rungate_data", "rungate_control"] {
                try await withPostgresClient(url: try database.url(role: role)) { client in
                    let error = await #expect(throws: PSQLError.self) {
                        try await client.query("SELECT * FROM platform_tokens", logger: TestServers.logger).collect()
                    }
                    #expect(error?.serverInfo?[.sqlState] == "42501")
                }
            }
        }
    }

    @Test func dataRoleCannotRewriteRunHistoryOrPolicies() async throws {
        try await TestDatabase.with { database in
            try await withPostgresClient(url: try database.url(role: "rungate_data")) { client in
                for statement in ["DELETE FROM steps", "UPDATE policies SET name = 'x'", "DELETE FROM org_audit_log"] {
                    let error = await #expect(throws: PSQLError.self) {
                        try await client.query(PostgresQuery(unsafeSQL: statement), logger: TestServers.logger)
                    }
                    #expect(error?.serverInfo?[.sqlState] == "42501", "\(statement)")
                }
            }
        }
    }
}
