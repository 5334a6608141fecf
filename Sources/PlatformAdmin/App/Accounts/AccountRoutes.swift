import Common
import Foundation
import Hummingbird
import PostgresNIO

/// Accounts (orgs) across the deployment: create with a first-owner invitation, list, read, change
/// plan and limits, suspend and unsuspend (agents and admins of a suspended org are refused within a
/// second), schedule deletion. Never any run data: the platform role cannot read it.
struct AccountRoutes: Sendable {
    let database: Database
    let invitationLifetime: Duration

    var routes: [PlatformRoute] {
        [
            PlatformRoute(.get, "/platform/orgs", summary: "List orgs (?status=active|suspended&q=name)", handler: list),
            PlatformRoute(.post, "/platform/orgs", summary: "Create an org and invite its first owner (the invitation token is returned once)", handler: create),
            PlatformRoute(.get, "/platform/orgs/{org}", summary: "Read an org: settings, plan, limits, members' e-mails and roles", handler: read),
            PlatformRoute(.patch, "/platform/orgs/{org}", summary: "Change an org's name, plan or limits", handler: update),
            PlatformRoute(.post, "/platform/orgs/{org}/suspend", summary: "Suspend: every agent and admin call is refused", handler: suspend),
            PlatformRoute(.post, "/platform/orgs/{org}/unsuspend", summary: "Lift a suspension", handler: unsuspend),
            PlatformRoute(.post, "/platform/orgs/{org}/schedule-deletion", summary: "Schedule the org's deletion (24-hour grace, then purged)",
                          handler: scheduleDeletion),
        ]
    }

    struct Account: Codable, Sendable {
        let id: UUID
        let name: String
        let status: String
        let plan: String
        let limits: JSONValue
        let createdAt: Date
        let deletionDueAt: Date?
        var members: [AccountMember]?
    }

    struct AccountMember: Codable, Sendable {
        let userId: UUID
        let email: String
        let role: String
    }

    struct CreateBody: Decodable {
        let name: String
        let ownerEmail: String
        let plan: String?
        let limits: JSONValue?
    }

    struct Created: Encodable {
        let org: Account
        let invitationId: UUID
        /// Give it to the owner: they sign in with that e-mail and accept it in the control plane.
        let invitationToken: String
    }

    @Sendable func list(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        let query = request.uri.queryParameters
        let status = query["status"].map(String.init), name = query["q"].map(String.init)
        if let status, !["active", "suspended"].contains(status) { throw RungateError.badRequest("`status` must be active or suspended.") }
        let accounts = try await select(nil, status: status, name: name)
        try await call.audit("orgs.list", after: ["status": status.map { .string($0) } ?? .null, "q": name.map { .string($0) } ?? .null])
        return jsonResponse(.ok, ["data": .array(accounts.map(APIJSON.tree))])
    }

    @Sendable func read(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        let id = try context.id("org", "The org")
        var account = try await existing(id)
        account.members = try await database.query(
            """
            SELECT u.id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = \(id) ORDER BY m.created_at
            """) { try await $0.allRows(decoding: (UUID, String, String).self) }.map(AccountMember.init)
        try await call.audit("orgs.read", target: "org", id: id.lowercasedString)
        return jsonResponse(.ok, APIJSON.tree(account))
    }

    @Sendable func create(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        let body = try await APIJSON.decode(CreateBody.self, from: request)
        let name = body.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(name.unicodeScalars.count) else { throw RungateError.badRequest("`name` must be 1 to 200 characters.") }
        let email = body.ownerEmail.trimmingCharacters(in: .whitespaces).lowercased()
        guard email.split(separator: "@").count == 2, email.count <= 254 else { throw RungateError.badRequest("`owner_email` is not a valid e-mail address.") }
        if let limits = body.limits, case .object = limits {} else if body.limits != nil { throw RungateError.badRequest("`limits` must be an object.") }
        let orgID = UUID(), token = Token.generate(.invitation)
        let invitationID = try await database.transaction { connection in
            try await connection.query(
                "INSERT INTO orgs (id, name, plan, limits) VALUES (\(orgID), \(name), \(body.plan ?? "free"), \((body.limits ?? [:]).jsonb)::jsonb)",
                logger: database.logger)
            try await connection.query("INSERT INTO org_settings (org_id) VALUES (\(orgID))", logger: database.logger)
            let invitationID = try await connection.query(
                """
                INSERT INTO invitations (org_id, email, role, token_hash, expires_at)
                VALUES (\(orgID), \(email), 'owner', \(token.hash), \(Date().addingTimeInterval(TimeInterval(invitationLifetime.components.seconds))))
                RETURNING id
                """, logger: database.logger
            ).first(decoding: UUID.self)!
            try await call.audit("orgs.create", target: "org", id: orgID.lowercasedString,
                                 after: ["name": .string(name), "owner_email": .string(email), "plan": .string(body.plan ?? "free"),
                                         "invitation_id": .string(invitationID.lowercasedString)], on: connection)
            return invitationID
        }
        let created = Created(org: try await existing(orgID), invitationId: invitationID, invitationToken: token.value)
        return jsonResponse(.created, APIJSON.tree(created), headers: [.cacheControl: "no-store"])
    }

    @Sendable func update(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        let id = try context.id("org", "The org")
        guard case .object(let patch) = try await APIJSON.decode(JSONValue.self, from: request) else {
            throw RungateError.badRequest("The request body must be a JSON object.")
        }
        if let unknown = patch.keys.first(where: { !["name", "plan", "limits"].contains($0) }) {
            throw RungateError.badRequest("`\(unknown)` cannot be changed here (name, plan, limits).")
        }
        let name = patch["name"]?.stringValue, plan = patch["plan"]?.stringValue
        if patch["name"] != nil, !(1...200).contains(name?.unicodeScalars.count ?? 0) { throw RungateError.badRequest("`name` must be 1 to 200 characters.") }
        if patch["plan"] != nil, !(1...50).contains(plan?.count ?? 0) { throw RungateError.badRequest("`plan` must be 1 to 50 characters.") }
        if let limits = patch["limits"], case .object = limits {} else if patch["limits"] != nil { throw RungateError.badRequest("`limits` must be an object.") }
        let after = try await change(id, call: call, action: "orgs.update") { connection in
            try await connection.query(
                """
                UPDATE orgs SET name = COALESCE(\(name), name), plan = COALESCE(\(plan), plan),
                    limits = COALESCE(\(patch["limits"]?.jsonb)::jsonb, limits), updated_at = now()
                WHERE id = \(id)
                """, logger: database.logger)
        }
        return jsonResponse(.ok, APIJSON.tree(after))
    }

    @Sendable func suspend(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        try await setStatus(context, call, "suspended")
    }

    @Sendable func unsuspend(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        try await setStatus(context, call, "active")
    }

    private func setStatus(_ context: PlatformRequestContext, _ call: PlatformCall, _ status: String) async throws -> Response {
        let id = try context.id("org", "The org")
        let after = try await change(id, call: call, action: status == "suspended" ? "orgs.suspend" : "orgs.unsuspend") { connection in
            try await connection.query("UPDATE orgs SET status = \(status), updated_at = now() WHERE id = \(id)", logger: database.logger)
            // Every data plane drops the org's cached principals at COMMIT: the next agent call sees the status.
            try await Invalidation.org(id).publish(on: connection, logger: database.logger)
        }
        return jsonResponse(.ok, APIJSON.tree(after))
    }

    @Sendable func scheduleDeletion(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        let id = try context.id("org", "The org")
        let after = try await change(id, call: call, action: "orgs.schedule_deletion") { connection in
            try await connection.query(
                """
                UPDATE orgs SET deletion_requested_at = now(), deletion_due_at = COALESCE(deletion_due_at, now() + interval '24 hours'), updated_at = now()
                WHERE id = \(id)
                """, logger: database.logger)
            try await Invalidation.org(id).publish(on: connection, logger: database.logger)
        }
        return jsonResponse(.accepted, APIJSON.tree(after))
    }

    /// Applies `body` to the org in one transaction with its audit row (before and after).
    private func change(_ id: UUID, call: PlatformCall, action: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> Void) async throws -> Account {
        let before = try await existing(id)
        try await database.transaction { connection in
            try await body(connection)
            let after = try await select(id, status: nil, name: nil, on: connection).first!
            try await call.audit(action, target: "org", id: id.lowercasedString, before: APIJSON.tree(before),
                                 after: APIJSON.tree(after), on: connection)
        }
        return try await existing(id)
    }

    private func existing(_ id: UUID) async throws -> Account {
        guard let account = try await select(id, status: nil, name: nil).first else { throw RungateError.notFound("The org") }
        return account
    }

    private func select(_ id: UUID?, status: String?, name: String?, on connection: PostgresConnection? = nil) async throws -> [Account] {
        let query: PostgresQuery = """
            SELECT id, name, status, plan, limits::text, created_at, deletion_due_at FROM orgs
            WHERE (\(id)::uuid IS NULL OR id = \(id)) AND (\(status)::text IS NULL OR status = \(status))
              AND (\(name)::text IS NULL OR name ILIKE '%' || \(name) || '%')
            ORDER BY created_at DESC, id LIMIT 500
            """
        return try await database.query(query, on: connection) { try await $0.allRows(decoding: (UUID, String, String, String, String, Date, Date?).self) }.map { row in
            Account(id: row.0, name: row.1, status: row.2, plan: row.3,
                    limits: JSONValue.parse(row.4) ?? [:], createdAt: row.5, deletionDueAt: row.6)
        }
    }
}
