import Common
import Foundation
import PostgresNIO
import TestSupport
import Testing

/// Row-level security is the second lock: even a query with no `WHERE org_id` sees only the org
/// the transaction is scoped to, under the control plane's role.
@Suite struct RowLevelSecurityTests {
    @Test func anUnscopedQueryUnderTheControlRoleSeesOnlyTheScopedOrg() async throws {
        try await TestDatabase.with { database in
            let (a, b) = try await withPostgresClient(url: database.ownerURL) { owner in
                (try await OrgFixture.create(on: owner), try await OrgFixture.create(on: owner))
            }
            try await withPostgresClient(url: try database.url(role: "rungate_control")) { client in
                let db = Database(client: client, logger: TestServers.logger)
                let logger = TestServers.logger
                // Deliberately unscoped: no WHERE at all.
                let seen = try await db.withOrg(a.orgID) { connection in
                    try await connection.query("SELECT org_id FROM memberships", logger: logger).all(decoding: UUID.self)
                }
                #expect(Set(seen) == [a.orgID])
                #expect(seen.count == 6)
                let orgs = try await db.withOrg(b.orgID) { connection in
                    try await connection.query("SELECT id FROM orgs", logger: logger).all(decoding: UUID.self)
                }
                #expect(orgs == [b.orgID])
                let teams = try await db.withOrg(a.orgID) { connection in
                    try await connection.query("SELECT count(*)::int FROM teams", logger: logger).first(decoding: Int.self)
                }
                #expect(teams == 1)

                // With no org set, nothing org-owned is visible at all.
                let unscoped = try await client.query("SELECT count(*)::int FROM memberships", logger: logger).first(decoding: Int.self)
                #expect(unscoped == 0)
                let tokens = try await client.query("SELECT count(*)::int FROM admin_tokens", logger: logger).first(decoding: Int.self)
                #expect(tokens == 0)

                // Writing into another org is refused, and updating another org's rows touches none.
                await #expect(throws: PSQLError.self) {
                    try await db.withOrg(a.orgID) { connection in
                        try await connection.query("INSERT INTO teams (org_id, name) VALUES (\(b.orgID), 'intruder')", logger: logger)
                    }
                }
                _ = try await db.withOrg(a.orgID) { connection in
                    try await connection.query("UPDATE teams SET name = 'renamed-everywhere'", logger: logger)
                }
            }
            let names = try await withPostgresClient(url: database.ownerURL) { owner in
                try await owner.query("SELECT org_id, name FROM teams", logger: TestServers.logger).allRows(decoding: (UUID, String).self)
            }
            #expect(names.first { $0.0 == a.orgID }?.1 == "renamed-everywhere")
            #expect(names.first { $0.0 == b.orgID }?.1 == "platform")
        }
    }

    @Test func everyOrgOwnedTableHasRowLevelSecurity() async throws {
        try await TestDatabase.with { database in
            let unprotected = try await withPostgresClient(url: database.ownerURL) { owner in
                try await owner.query(
                    """
                    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                      AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped)
                      AND NOT c.relrowsecurity
                    ORDER BY 1
                    """, logger: TestServers.logger).all(decoding: String.self)
            }
            #expect(unprotected.isEmpty, "org-owned tables without row-level security: \(unprotected)")
        }
    }
}
