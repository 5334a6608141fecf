import Common
import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import TestSupport
import Testing

/// Every control-plane endpoint, called by every kind of caller; the expected answer of each cell
/// comes from the route's declared access and the one RBAC catalogue. Every successful write must
/// leave an audit entry with before/after state.
@Suite struct RBACMatrixTests {
    enum Caller: String, CaseIterable {
        case owner, admin, member, viewer
        /// A signed-in user of another org.
        case outsider
        case anonymous
        case revokedToken
        /// The owner's admin token with every scope except the route's action.
        case tokenLackingScope
    }

    @Test func everyEndpointAnswersEveryCallerAsTheCatalogueDecides() async throws {
        let keyring = MasterKeyring.random()
        try await TestDatabase.with { database in
            let routes = try TestApps.controlPlaneAPI(database).api.routes
            try await withPostgresClient(url: database.ownerURL) { db in
                try await TestApps.controlPlane(database, configuration: TestApps.controlPlaneConfiguration(keyring: keyring)).test(.router) { client in
                    var failures: [String] = []
                    var cells = 0
                    for route in routes {
                        for caller in Caller.allCases {
                            cells += 1
                            if let failure = try await Self.check(route, caller, client: client, db: db, keyring: keyring) { failures.append(failure) }
                        }
                    }
                    #expect(failures.isEmpty, "\(failures.count) of \(cells) cells failed:\n\(failures.joined(separator: "\n"))")
                    #expect(cells >= 30 * Caller.allCases.count)
                }
            }
        }
    }

    /// Calls `route` as `caller` on a fresh fixture; a description of the mismatch, or nil.
    static func check(_ route: APIRoute, _ caller: Caller, client: some TestClientProtocol, db: PostgresClient, keyring: MasterKeyring) async throws -> String? {
        let fixture = try await OrgFixture.create(on: db, keyring: keyring)
        try await prepare(route, fixture, db: db)
        let expected = expectedStatus(route, caller)
        var headers: HTTPFields = [.contentType: "application/json"]
        if let credential = try await credential(caller, route: route, fixture: fixture, db: db) {
            headers[.authorization] = "Bearer \(credential.value)"
        }
        let actor = actorID(caller, fixture)
        let auditBefore = try await auditCount(actor: actor, db: db)
        let body = try await body(route, caller, fixture, db: db).map { ByteBuffer(bytes: try JSONEncoder().encode($0)) }
        let uri = path(route, fixture)
        let label = "\(route.method) \(route.path) as \(caller.rawValue)"

        let status = try await client.execute(uri: uri, method: route.method, headers: headers, body: body) { response in
            (response.status, String(buffer: response.body))
        }
        guard status.0 == expected else { return "\(label): expected \(expected.code), got \(status.0.code) \(status.1.prefix(300))" }

        // Successful writes are audited, with the state they changed.
        guard route.method != .get, (200..<300).contains(Int(expected.code)), let actor, audited(route) else { return nil }
        let auditAfter = try await auditCount(actor: actor, db: db)
        guard auditAfter > auditBefore else { return "\(label): no audit entry for a successful write" }
        let (before, after) = try await db.query(
            "SELECT before IS NOT NULL, after IS NOT NULL FROM org_audit_log WHERE actor_id = \(actor) ORDER BY id DESC LIMIT 1",
            logger: TestServers.logger).firstRow(decoding: (Bool, Bool).self)!
        if [.patch, .delete].contains(route.method), !before { return "\(label): audit entry lacks the before state" }
        if expected == .created || route.method == .put || route.method == .patch, !after { return "\(label): audit entry lacks the after state" }
        if !before, !after { return "\(label): audit entry has neither before nor after" }
        return nil
    }

    static func expectedStatus(_ route: APIRoute, _ caller: Caller) -> HTTPResponse.Status {
        let success = route.successStatus
        switch route.access {
        case .anonymous:
            return success
        case .user(let allowsAdminToken):
            switch caller {
            case .anonymous, .revokedToken: return .unauthorized
            case .tokenLackingScope: return allowsAdminToken ? success : .forbidden
            default: return success
            }
        case .org(let action):
            switch caller {
            case .anonymous, .revokedToken: return .unauthorized
            case .outsider: return .notFound
            case .tokenLackingScope: return .forbidden
            case .owner: return Permissions.allows(.owner, action) ? success : .forbidden
            case .admin: return Permissions.allows(.admin, action) ? success : .forbidden
            case .member: return Permissions.allows(.member, action) ? success : .forbidden
            case .viewer: return Permissions.allows(.viewer, action) ? success : .forbidden
            }
        }
    }

    static func credential(_ caller: Caller, route: APIRoute, fixture: OrgFixture, db: PostgresClient) async throws -> Token? {
        switch caller {
        case .owner: fixture.owner.session
        case .admin: fixture.admin.session
        case .member: fixture.member.session
        case .viewer: fixture.viewer.session
        case .outsider: fixture.outsider.session
        case .anonymous: nil
        case .revokedToken: fixture.revokedToken
        case .tokenLackingScope:
            if case .org(let action) = route.access {
                try await fixture.tokenLacking(action, on: db)
            } else {
                fixture.ownerToken
            }
        }
    }

    static func actorID(_ caller: Caller, _ fixture: OrgFixture) -> String? {
        switch caller {
        case .owner: fixture.owner.idString
        case .admin: fixture.admin.idString
        case .member: fixture.member.idString
        case .viewer: fixture.viewer.idString
        case .outsider: fixture.outsider.idString
        default: nil
        }
    }

    /// Sign-up, sign-in and sign-out change no org: they are not in an org's audit log.
    static func audited(_ route: APIRoute) -> Bool { !route.path.hasPrefix("/api/auth/") }

    static func auditCount(actor: String?, db: PostgresClient) async throws -> Int {
        guard let actor else { return 0 }
        return try await db.query("SELECT count(*)::int FROM org_audit_log WHERE actor_id = \(actor)", logger: TestServers.logger)
            .first(decoding: Int.self) ?? 0
    }

    static func path(_ route: APIRoute, _ fixture: OrgFixture) -> String {
        let r = fixture.resources
        let values: [String: UUID] = [
            "org": fixture.orgID, "user": fixture.target.id, "team": fixture.teamID, "invitation": fixture.invitationID,
            "token": fixture.ownerTokenID, "agent": r.agentID, "agent_token": r.agentTokenID, "key": r.providerKeyID,
            "policy": r.policyID, "budget": r.budgetID, "price": r.priceID, "webhook": r.webhookID, "delivery": r.deliveryID,
            "run": r.runID, "step": r.stepID, "artifact": r.artifactID, "approval": r.approvalID,
        ]
        var path = route.path.replacingOccurrences(of: "{version}", with: "2")
        for (name, id) in values { path = path.replacingOccurrences(of: "{\(name)}", with: id.uuidString.lowercased()) }
        return path + (route.path.hasSuffix("/diff") ? "?from=1&to=2" : "")
    }

    /// State a route needs before it can succeed.
    static func prepare(_ route: APIRoute, _ fixture: OrgFixture, db: PostgresClient) async throws {
        if route.path.hasSuffix("/restore") {
            try await db.query(
                "UPDATE orgs SET deletion_requested_at = now(), deletion_due_at = now() + interval '1 day' WHERE id = \(fixture.orgID)",
                logger: TestServers.logger)
        }
    }

    /// A valid body for each route that takes one.
    static func body(_ route: APIRoute, _ caller: Caller, _ fixture: OrgFixture, db: PostgresClient) async throws -> JSONValue? {
        let unique = UUID().uuidString.prefix(8).lowercased()
        switch (route.method, route.path) {
        case (.post, "/api/auth/signup"): return ["email": .string("new-\(unique)@example.com"), "password": "a-long-enough-password"]
        case (.post, "/api/auth/login"): return ["email": .string(fixture.owner.email), "password": .string(OrgFixture.password)]
        case (.post, "/api/orgs"): return ["name": "A new org"]
        case (.patch, "/api/orgs/{org}"): return ["name": "Renamed"]
        case (.post, "/api/orgs/{org}/transfer-ownership"): return ["user_id": .string(fixture.admin.idString)]
        case (.patch, "/api/orgs/{org}/settings"): return ["retention_days": 14, "store_payloads": false]
        case (.patch, "/api/orgs/{org}/members/{user}"): return ["role": "member"]
        case (.post, "/api/orgs/{org}/invitations"): return ["email": .string("invitee-\(unique)@example.com"), "role": "member"]
        case (.post, "/api/invitations/accept"):
            let email = actorID(caller, fixture).flatMap { id in
                [fixture.owner, fixture.admin, fixture.member, fixture.viewer, fixture.outsider].first { $0.idString == id }?.email
            } ?? "nobody@example.com"
            return ["token": .string(try await fixture.invitation(for: email, on: db).value)]
        case (.post, "/api/orgs/{org}/teams"): return ["name": .string("team-\(unique)")]
        case (.patch, "/api/orgs/{org}/teams/{team}"): return ["name": "renamed-team"]
        case (.post, "/api/orgs/{org}/admin-tokens"): return ["name": "ci", "scopes": .array(["org.read", "runs.read"])]
        case (.post, "/api/orgs/{org}/agents"): return ["name": .string("agent-\(unique)")]
        case (.patch, "/api/orgs/{org}/agents/{agent}"): return ["description": "changed", "policy": "fixture-policy@2"]
        case (.post, "/api/orgs/{org}/agents/{agent}/tokens"): return ["name": "ci"]
        case (.post, "/api/orgs/{org}/agents/{agent}/tokens/{agent_token}/rotate"): return ["grace_seconds": 60]
        case (.post, "/api/orgs/{org}/provider-keys"):
            return ["provider": "anthropic", "name": .string("key-\(unique)"), "api_key": "sk-ant-test-12345678"]
        case (.patch, "/api/orgs/{org}/provider-keys/{key}"): return ["name": .string("renamed-\(unique)"), "is_default": true]
        case (.post, "/api/orgs/{org}/policies"):
            return ["name": .string("p-\(unique)"), "rules": ["models": ["allow": ["gpt-4o*"]], "max_steps_per_run": 50]]
        case (.patch, "/api/orgs/{org}/policies/{policy}"): return ["description": "described"]
        case (.post, "/api/orgs/{org}/policies/{policy}/versions"): return ["rules": ["tools": ["deny": ["shell*"]]]]
        case (.post, "/api/orgs/{org}/budgets"): return ["scope": "org", "period": "month", "cap_micros": 1_000_000]
        case (.patch, "/api/orgs/{org}/budgets/{budget}"): return ["cap_micros": 5]
        case (.put, "/api/orgs/{org}/prices"):
            return ["provider": "openai", "model": "gpt-x", "input_micros_per_mtok": 1, "output_micros_per_mtok": 2]
        case (.post, "/api/orgs/{org}/webhooks"): return ["url": "https://203.0.113.10/new", "events": ["run.ended", "budget.exceeded"]]
        case (.patch, "/api/orgs/{org}/webhooks/{webhook}"): return ["description": "changed"]
        case (.post, "/api/orgs/{org}/webhooks/{webhook}/rotate-secret"): return ["grace_seconds": 60]
        case (.post, "/api/orgs/{org}/approvals/{approval}/approve"): return ["reason": "looks fine"]
        case (.post, "/api/orgs/{org}/approvals/{approval}/reject"): return ["reason": "not in production"]
        default:
            #expect(route.requestBody == nil, "no test body for \(route.method) \(route.path)")
            return nil
        }
    }
}
