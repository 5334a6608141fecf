import Common
import Foundation
import Hummingbird

/// Admin tokens (`rg_adm_`): automation acting as the issuing user in one org, never with more than
/// that user's role, narrowed by the scopes named at issue. The value is shown once.
struct AdminTokenRoutes: RouteCollection {
    let services: ControlPlaneServices

    struct CreateBody: Decodable {
        let name: String
        let scopes: [String]
        let expiresInDays: Int?
    }

    struct Created: Encodable {
        let adminToken: AdminTokenInfo
        /// The secret value; shown only in this answer.
        let token: String
    }

    var routes: [APIRoute] {
        [
            APIRoute(.get, "/api/orgs/{org}/admin-tokens", access: .org(.adminTokensRead), summary: "List admin tokens (metadata only)", handler: list),
            APIRoute(.post, "/api/orgs/{org}/admin-tokens", access: .org(.adminTokensCreate),
                     summary: "Issue an admin token acting as the caller, limited to scopes (returned once)", success: .created,
                     body: Schema.object(["name": Schema.name, "scopes": Schema.array(Schema.string), "expires_in_days": Schema.integer(1, 3650)],
                                         required: ["name", "scopes"]), handler: create),
            APIRoute(.delete, "/api/orgs/{org}/admin-tokens/{token}", access: .org(.adminTokensRevoke), summary: "Revoke an admin token",
                     success: .noContent, handler: revoke),
        ]
    }

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let tokens = try await services.inOrg(request, context) { tx in try await services.adminTokens.tokens(on: tx.connection) }
        return try APIJSON.response(.ok, ListResponse(tokens))
    }

    @Sendable func create(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let body = try await APIJSON.decode(CreateBody.self, from: request)
        let name = try OrgRoutes.validName(body.name)
        let identity = try context.requireIdentity()
        let role = try context.requireOrg().role
        let scopes: ScopeSet
        do {
            scopes = try ScopeSet(body.scopes)
        } catch {
            throw RungateError(.unprocessableContent, code: "invalid_scope", message: "`\(error.scope)` is not an action, an `area.*` or `*`.",
                               recovery: "GET /api/rbac lists the actions.")
        }
        guard !body.scopes.isEmpty else {
            throw RungateError(.unprocessableContent, code: "invalid_scope", message: "An admin token needs at least one scope.")
        }
        // Named actions must be within the issuer's role (wildcards are bounded by the role at each
        // call anyway), and a token issued by a token never holds more than its issuer's scopes.
        if let beyond = body.scopes.compactMap(Action.init(rawValue:)).first(where: { !Permissions.allows(role, $0) }) {
            throw RungateError(.forbidden, code: "scope_exceeds_role",
                               message: "Your role (\(role.rawValue)) does not include `\(beyond.rawValue)`, so a token of yours cannot.",
                               recovery: "Request only scopes your role allows (GET /api/rbac).")
        }
        if case .adminToken(_, _, let issuerScopes) = identity.credential, let beyond = scopes.actions.first(where: { !issuerScopes.contains($0) }) {
            throw RungateError(.forbidden, code: "scope_exceeds_issuer",
                               message: "The token making this request does not hold `\(beyond.rawValue)`, so it cannot grant it.",
                               recovery: "Request a subset of this token's scopes, or issue the token from a signed-in session.")
        }
        if let days = body.expiresInDays, !(1...3650).contains(days) {
            throw RungateError(.unprocessableContent, code: "invalid_expiry", message: "`expires_in_days` must be between 1 and 3650.")
        }
        let expiresAt = body.expiresInDays.map { Date().addingTimeInterval(TimeInterval($0) * 86_400) }
        let token = Token.generate(.admin)
        let info = try await services.inOrg(request, context) { tx in
            let info = try await services.adminTokens.create(userID: identity.userID, name: name, token: token, scopes: body.scopes.sorted(),
                                                             expiresAt: expiresAt, on: tx.connection)
            try await tx.record(AuditEvent("admin_tokens.create", target: "admin_token", id: info.id, after: APIJSON.tree(info)))
            return info
        }
        return try APIJSON.response(.created, Created(adminToken: info, token: token.value), headers: [.cacheControl: "no-store"])
    }

    @Sendable func revoke(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("token", "The admin token")
        try await services.inOrg(request, context) { tx in
            guard let before = try await services.adminTokens.token(id, on: tx.connection) else { throw RungateError.notFound("The admin token") }
            guard let after = try await services.adminTokens.revoke(id, on: tx.connection) else {
                throw RungateError(.conflict, code: "already_revoked", message: "The admin token was already revoked.")
            }
            try await tx.record(AuditEvent("admin_tokens.revoke", target: "admin_token", id: id, before: APIJSON.tree(before), after: APIJSON.tree(after)))
        }
        return Response(status: .noContent)
    }
}
