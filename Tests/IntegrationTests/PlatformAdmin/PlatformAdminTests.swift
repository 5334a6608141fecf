import Common
import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PlatformAdmin
import PostgresNIO
import TestSupport
import Testing

/// The platform service: isolated from run data, every call on its audit trail, tokens not
/// interchangeable with the other two services.
@Suite struct PlatformAdminTests {
    static func platformToken(_ database: TestDatabase, expiresAt: Date? = nil) async throws -> PlatformTokenStore.Issued {
        try await withPostgresClient(url: try database.url(role: "rungate_platform")) { client in
            try await PlatformTokenStore(database: Database(client: client, logger: TestServers.logger))
                .create(name: "test-staff", createdBy: "test", origin: "test", expiresAt: expiresAt)
        }
    }

    static func platformApp(_ database: TestDatabase, allowedNetworks: [IPNetwork] = []) throws -> some ApplicationProtocol {
        buildPlatformAdmin(configuration: .init(port: 0, allowedNetworks: allowedNetworks),
                           backing: try TestApps.backing(database, role: "rungate_platform"), metrics: .init(), logger: TestServers.logger)
    }

    @Test func everyEndpointLeavesAnAuditRowAndRunDataIsOutOfReach() async throws {
        try await TestDatabase.with { database in
            let issued = try await Self.platformToken(database)
            let fixture = try await withPostgresClient(url: database.ownerURL) { try await OrgFixture.create(on: $0) }
            let routes = PlatformAPI(configuration: .init(), database: try TestApps.backing(database, role: "rungate_platform").database).routes
            #expect(routes.count >= 14)
            try await withPostgresClient(url: database.ownerURL) { db in
                try await Self.platformApp(database).test(.router) { client in
                    for route in routes {
                        let before = try await Self.auditRows(db, issued.id)
                        let path = route.path.replacingOccurrences(of: "{org}", with: fixture.orgString)
                            .replacingOccurrences(of: "{user}", with: fixture.target.idString)
                            .replacingOccurrences(of: "{token}", with: issued.id.uuidString.lowercased())
                        let body: JSONValue? = switch (route.method, route.path) {
                        case (.post, "/platform/orgs"): ["name": "New customer", "owner_email": "founder@example.com", "plan": "team"]
                        case (.patch, "/platform/orgs/{org}"): ["plan": "enterprise", "limits": ["max_agents": 50]]
                        default: nil
                        }
                        // Revoking the calling token is the last thing it does.
                        if route.method == .delete { continue }
                        let answer = try await client.call(route.method, path, bearer: issued.token.value, body: body)
                        #expect((200..<300).contains(Int(answer.status.code)), "\(route.method) \(route.path): \(answer.status) \(answer.json)")
                        #expect(try await Self.auditRows(db, issued.id) == before + 1, "\(route.method) \(route.path) left no platform_audit_log row")
                    }
                    let revoke = try #require(routes.first { $0.method == .delete })
                    let before = try await Self.auditRows(db, issued.id)
                    let revoked = try await client.call(.delete, revoke.path.replacingOccurrences(of: "{token}", with: issued.id.uuidString), bearer: issued.token.value)
                    let after = try await Self.auditRows(db, issued.id)
                    #expect(revoked.status == .noContent && after == before + 1)
                    #expect(try await client.call(.get, "/platform/orgs", bearer: issued.token.value).status == .unauthorized)

                    // Writes carry their before and after state.
                    let update = try await db.query(
                        "SELECT before->>'plan', after->>'plan' FROM platform_audit_log WHERE action = 'orgs.update'", logger: TestServers.logger
                    ).firstRow(decoding: (String, String).self)
                    #expect(update?.0 == "free" && update?.1 == "enterprise")
                }
            }
            // No route reaches run data...
            let fresh = try await Self.platformToken(database)
            try await Self.platformApp(database).test(.router) { client in
                for path in ["runs", "steps", "payloads", "approvals", "provider-keys", "agents", "artifacts"] {
                    let answer = try await client.call(.get, "/platform/orgs/\(fixture.orgString)/\(path)", bearer: fresh.token.value)
                    #expect(answer.status == .notFound, "\(path)")
                }
            }
            // ...and the service's own database connection is refused by the database itself.
            let backing = try TestApps.backing(database, role: "rungate_platform")
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await backing.database.client.run() }
                for table in ["runs", "steps", "payloads", "approvals", "provider_keys", "artifacts", "org_data_keys"] {
                    let error = await #expect(throws: PSQLError.self, "\(table)") {
                        try await backing.database.client.query(PostgresQuery(unsafeSQL: "SELECT * FROM \(table) LIMIT 1"), logger: TestServers.logger).collect()
                    }
                    #expect(error?.serverInfo?[.sqlState] == "42501")
                }
                group.cancelAll()
            }
        }
    }

    static func auditRows(_ db: PostgresClient, _ tokenID: UUID) async throws -> Int {
        try await db.query("SELECT count(*)::int FROM platform_audit_log WHERE actor_token_id = \(tokenID)", logger: TestServers.logger)
            .first(decoding: Int.self) ?? 0
    }

    @Test func tokenClassesAreNotInterchangeable() async throws {
        try await TestDatabase.with { database in
            let platform = try await Self.platformToken(database)
            let fixture = try await withPostgresClient(url: database.ownerURL) { try await OrgFixture.create(on: $0) }
            let expired = try await Self.platformToken(database, expiresAt: Date().addingTimeInterval(-1))
            try await Self.platformApp(database).test(.router) { client in
                for foreign in [fixture.ownerToken.value, fixture.owner.session.value, Token.generate(.agent).value, expired.token.value] {
                    let answer = try await client.call(.get, "/platform/orgs", bearer: foreign)
                    #expect(answer.status == .unauthorized && answer.errorCode == "invalid_credentials")
                }
                #expect(try await client.call(.get, "/platform/orgs", bearer: platform.token.value).status == .ok)
            }
            try await TestApps.controlPlane(database).test(.router) { (client: any TestClientProtocol) async throws in
                #expect(try await client.call(.get, "/api/me", bearer: platform.token.value).status == .unauthorized)
                #expect(try await client.call(.get, "/api/orgs/\(fixture.orgString)", bearer: platform.token.value).status == .unauthorized)
            }
            try await TestApps.dataPlane(database).test(.router) { client in
                let answer = try await client.call(.get, "/v1/runs/\(UUID().uuidString)", bearer: platform.token.value)
                #expect(answer.status == .unauthorized)
            }
        }
    }

    @Test func theAllowListRefusesOtherAddresses() async throws {
        #expect(IPNetwork("10.0.0.0/8")?.contains(try SocketAddress(ipAddress: "10.1.2.3", port: 0)) == true)
        #expect(IPNetwork("10.0.0.0/8")?.contains(try SocketAddress(ipAddress: "11.0.0.1", port: 0)) == false)
        #expect(IPNetwork("2001:db8::/32")?.contains(try SocketAddress(ipAddress: "2001:db8::5", port: 0)) == true)
        #expect(IPNetwork("127.0.0.1")?.contains(try SocketAddress(ipAddress: "127.0.0.2", port: 0)) == false)
        #expect(IPNetwork("not-a-network") == nil && IPNetwork("10.0.0.0/33") == nil)
        try await TestDatabase.with { database in
            let issued = try await Self.platformToken(database)
            try await Self.platformApp(database, allowedNetworks: [IPNetwork("192.0.2.0/24")!]).test(.live) { (client: any TestClientProtocol) async throws in
                let answer = try await client.call(.get, "/platform/orgs", bearer: issued.token.value)
                #expect(answer.status == .forbidden && answer.errorCode == "address_not_allowed")
            }
            try await Self.platformApp(database, allowedNetworks: [IPNetwork("127.0.0.0/8")!, IPNetwork("::1")!]).test(.live) { (client: any TestClientProtocol) async throws in
                #expect(try await client.call(.get, "/platform/orgs", bearer: issued.token.value).status == .ok)
            }
        }
    }

    @Test func anOrgCreatedByStaffIsClaimedByItsOwnerAndSuspensionStopsItsAdmins() async throws {
        try await TestDatabase.with { database in
            let issued = try await Self.platformToken(database)
            let (orgID, invitation) = try await Self.platformApp(database).test(.router) { client in
                let created = try await client.call(.post, "/platform/orgs", bearer: issued.token.value,
                                                    body: ["name": "Globex", "owner_email": "Hank@Globex.example"])
                #expect(created.status == .created)
                return (try #require(created.json["org"]?["id"]?.stringValue), try #require(created.json["invitation_token"]?.stringValue))
            }
            try await TestApps.controlPlane(database).test(.router) { client in
                let session = try #require(try await client.call(.post, "/api/auth/signup",
                                                                 body: ["email": "hank@globex.example", "password": "a-long-enough-password"]).json["token"]?.stringValue)
                let joined = try await client.call(.post, "/api/invitations/accept", bearer: session, body: ["token": .string(invitation)])
                #expect(joined.status == .ok && joined.json["member"]?["role"] == "owner")
                // The org's data key was created on joining, so secrets can be stored.
                let key = try await client.call(.post, "/api/orgs/\(orgID)/provider-keys", bearer: session,
                                                body: ["provider": "anthropic", "name": "main", "api_key": "sk-ant-globex-1234"])
                #expect(key.status == .created)

                try await Self.platformApp(database).test(.router) { (platform: any TestClientProtocol) async throws in
                    #expect(try await platform.call(.post, "/platform/orgs/\(orgID)/suspend", bearer: issued.token.value).json["status"] == "suspended")
                }
                let refused = try await client.call(.get, "/api/orgs/\(orgID)", bearer: session)
                #expect(refused.status == .forbidden && refused.errorCode == "org_suspended")
                try await Self.platformApp(database).test(.router) { (platform: any TestClientProtocol) async throws in
                    #expect(try await platform.call(.post, "/platform/orgs/\(orgID)/unsuspend", bearer: issued.token.value).json["status"] == "active")
                }
                #expect(try await client.call(.get, "/api/orgs/\(orgID)", bearer: session).status == .ok)
            }
        }
    }
}
