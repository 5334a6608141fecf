import Common
import ControlPlane
import Foundation
import NIOCore
import PlatformAdmin
import PostgresNIO
import TestSupport
import Testing

@Suite struct BootstrapTests {
    static let request = Bootstrap.Request(
        orgName: "Acme", ownerEmail: "Owner@Example.com", ownerPassword: "a-long-enough-password",
        agentName: "demo-agent", providerBaseURL: "http://127.0.0.1:9090", providerAPIKey: "sk-test-provider-key-1234")

    @Test func createsTheFirstOrgStoringOnlyHashesAndCiphertexts() async throws {
        let keyring = MasterKeyring.random()
        try await TestDatabase.with { database in
            // As the control plane's own role, like `rungate-control bootstrap` in scripts/up.
            let result = try await withPostgresClient(url: try database.url(role: "rungate_control")) { client in
                let db = Database(client: client, logger: TestServers.logger)
                return try await Bootstrap(database: db, dataKeys: PostgresDataKeyRepository(database: db, keyring: keyring)).run(Self.request)
            }
            #expect(result.adminToken.kind == .admin)
            #expect(result.agentToken.kind == .agent)

            try await withPostgresClient(url: database.ownerURL) { client in
                let logger = TestServers.logger
                let role = try await client.query(
                    "SELECT m.role FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = \(result.orgID) AND u.email = 'owner@example.com'",
                    logger: logger).first(decoding: String.self)
                #expect(role == "owner")
                let adminHash = try await client.query("SELECT token_hash FROM admin_tokens WHERE org_id = \(result.orgID)", logger: logger)
                    .first(decoding: String.self)
                #expect(adminHash == result.adminToken.hash)
                let agentHash = try await client.query("SELECT token_hash FROM agent_tokens WHERE agent_id = \(result.agentID)", logger: logger)
                    .first(decoding: String.self)
                #expect(agentHash == result.agentToken.hash)
                let passwordHash = try await client.query("SELECT password_hash FROM users WHERE id = \(result.ownerID)", logger: logger)
                    .first(decoding: String.self)
                #expect(passwordHash?.hasPrefix("$2") == true)

                // No secret appears in any text column of the database.
                let dump = try await client.query(
                    """
                    SELECT string_agg(t::text, ' ') FROM (
                      SELECT row_to_json(x)::text AS t FROM users x UNION ALL SELECT row_to_json(x)::text FROM admin_tokens x
                      UNION ALL SELECT row_to_json(x)::text FROM agent_tokens x UNION ALL SELECT row_to_json(x)::text FROM provider_keys x
                      UNION ALL SELECT row_to_json(x)::text FROM org_audit_log x UNION ALL SELECT row_to_json(x)::text FROM org_data_keys x
                    ) s
                    """, logger: logger).first(decoding: String.self) ?? ""
                for secret in [result.adminToken.value, result.agentToken.value, "sk-test-provider-key-1234", "a-long-enough-password"] {
                    #expect(!dump.contains(secret))
                }
                let audit = try await client.query(
                    "SELECT action FROM org_audit_log WHERE org_id = \(result.orgID)", logger: logger).first(decoding: String.self)
                #expect(audit == "org.bootstrap")

                // The provider key decrypts with the master key; deleting the data key shreds it.
                let db = Database(client: client, logger: logger)
                let dataKeys = PostgresDataKeyRepository(database: db, keyring: keyring)
                var rows: [(UUID, ByteBuffer)] = []  // decoded before the shred below
                for try await row in try await client.query(
                    "SELECT data_key_id, ciphertext FROM provider_keys WHERE org_id = \(result.orgID) AND provider = 'anthropic'",
                    logger: logger).decode((UUID, ByteBuffer).self) { rows.append(row) }
                let (dataKeyID, ciphertext) = try #require(rows.first)
                let key = try #require(try await dataKeys.key(id: dataKeyID, orgID: result.orgID))
                #expect(String(decoding: try key.open(Array(buffer: ciphertext), purpose: .providerKey), as: UTF8.self) == "sk-test-provider-key-1234")
                try await client.query("DELETE FROM org_data_keys WHERE org_id = \(result.orgID)", logger: logger)
                #expect(try await dataKeys.key(id: dataKeyID, orgID: result.orgID) == nil)
            }
        }
    }

    @Test func refusesAShortOwnerPassword() async throws {
        try await TestDatabase.with { database in
            try await withPostgresClient(url: try database.url(role: "rungate_control")) { client in
                let db = Database(client: client, logger: TestServers.logger)
                var request = Self.request
                request.ownerPassword = "short"
                let shortPassword = request
                await #expect(throws: ConfigurationError.self) {
                    try await Bootstrap(database: db, dataKeys: PostgresDataKeyRepository(database: db, keyring: .random())).run(shortPassword)
                }
                let orgs = try await client.query("SELECT count(*) FROM orgs", logger: TestServers.logger).first(decoding: Int.self)
                #expect(orgs == 0)
            }
        }
    }

    @Test func platformTokensAreStoredAsHashesAndAudited() async throws {
        try await TestDatabase.with { database in
            let issued = try await withPostgresClient(url: try database.url(role: "rungate_platform")) { client in
                try await PlatformTokenStore(database: Database(client: client, logger: TestServers.logger))
                    .create(name: "ops", createdBy: "cli:test", origin: "cli")
            }
            #expect(issued.token.kind == .platform)
            try await withPostgresClient(url: database.ownerURL) { client in
                let hash = try await client.query("SELECT token_hash FROM platform_tokens WHERE id = \(issued.id)", logger: TestServers.logger)
                    .first(decoding: String.self)
                #expect(hash == issued.token.hash)
                let audit = try await client.query(
                    "SELECT action || ' ' || actor_name || ' ' || after::text FROM platform_audit_log WHERE target_id = \(issued.id.uuidString)",
                    logger: TestServers.logger).first(decoding: String.self) ?? ""
                #expect(audit.hasPrefix("platform_token.create cli:test"))
                #expect(!audit.contains(issued.token.value))
            }
        }
    }
}
