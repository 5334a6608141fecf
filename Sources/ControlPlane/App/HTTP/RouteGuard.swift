import Common
import Foundation
import HTTPTypes
import Hummingbird
import PostgresNIO

/// Enforces a route's declared access before its handler runs: authentication, CSRF for cookie
/// sessions, org membership (404 for anyone outside the org, never 403), the role × action
/// decision, admin-token scopes, and the org's lifecycle (suspended: refused; pending deletion: reads
/// and restore only).
struct RouteGuard: Sendable {
    let authenticator: Authenticator
    let database: Database

    func admit(_ route: APIRoute, request: Request, context: inout ControlRequestContext) async throws {
        // Every route needs the database (sessions, tokens, memberships, its own work): say at once when it is away.
        try database.requireReachable()
        switch route.access {
        case .anonymous:
            // A credential is optional here; an invalid one is ignored rather than refused.
            context.identity = try? await authenticator.identity(request)
        case .user(let allowsAdminToken):
            let identity = try await authenticated(request)
            if case .adminToken = identity.credential, !allowsAdminToken {
                throw RungateError(.forbidden, code: "session_required", message: "This endpoint needs a signed-in user session; admin tokens cannot call it.",
                                   recovery: "Sign in with POST /api/auth/login and use the session instead.")
            }
            context.identity = identity
        case .org(let action):
            let identity = try await authenticated(request)
            context.identity = identity
            context.org = try await orgAccess(identity, action: action, context: context)
        }
    }

    private func authenticated(_ request: Request) async throws -> Identity {
        guard let identity = try await authenticator.identity(request) else {
            throw RungateError.unauthenticated("This endpoint needs a session (cookie or `Bearer rg_ses_…`) or an admin token (`Bearer rg_adm_…`).")
        }
        // Browsers send cookies on their own; a header they never add by themselves proves the
        // page that sent a state-changing request is ours (a cross-site form cannot set it).
        if case .session(_, viaCookie: true) = identity.credential, !request.method.isSafe, request.headers[.xRequestedWith] == nil {
            throw RungateError(.forbidden, code: "csrf_header_missing",
                               message: "Cookie-authenticated writes must carry an `X-Requested-With` header.",
                               recovery: "Send `X-Requested-With: rungate` with the request (the dashboard does), or use a bearer credential.")
        }
        return identity
    }

    private func orgAccess(_ identity: Identity, action: Action, context: ControlRequestContext) async throws -> OrgAccess {
        let notFound = RungateError.notFound("The organisation")
        guard let orgID = context.parameters.get("org").flatMap(UUID.init(uuidString:)) else { throw notFound }
        if case .adminToken(_, let tokenOrg, _) = identity.credential, tokenOrg != orgID { throw notFound }
        let found: (String, Bool, String)?
        do {
            found = try await database.withOrg(orgID) { connection in
                try await connection.query(
                    """
                    SELECT m.role, o.deletion_due_at IS NOT NULL, o.status
                    FROM memberships m JOIN orgs o ON o.id = m.org_id
                    WHERE m.org_id = \(orgID) AND m.user_id = \(identity.userID)
                    """, logger: database.logger
                ).firstRow(decoding: (String, Bool, String).self)
            }
        } catch {
            throw RungateError.dependencyUnavailable("database")
        }
        guard let (roleName, pendingDeletion, status) = found, let role = Role(rawValue: roleName) else { throw notFound }

        guard Permissions.allows(role, action) else {
            throw RungateError(
                .forbidden, code: "permission_denied",
                message: "Your role in this organisation (\(role.rawValue)) does not allow `\(action.rawValue)`.",
                recovery: "Ask an owner or admin of the organisation; this action needs at least the \(action.minimumRole.rawValue) role.",
                details: ["action": .string(action.rawValue), "role": .string(role.rawValue), "required_role": .string(action.minimumRole.rawValue)])
        }
        if case .adminToken(_, _, let scopes) = identity.credential, !scopes.contains(action) {
            throw RungateError(
                .forbidden, code: "scope_missing", message: "This admin token's scopes do not include `\(action.rawValue)`.",
                recovery: "Issue a token whose scopes include `\(action.rawValue)` (or `\(action.area).*`).",
                details: ["action": .string(action.rawValue)])
        }
        if pendingDeletion, !action.isRead, action != .orgRestore {
            throw RungateError(.conflict, code: "org_pending_deletion", message: "This organisation is scheduled for deletion; it can only be read or restored.",
                               recovery: "An owner can restore it with POST /api/orgs/{org}/restore before the grace window ends.")
        }
        if status == "suspended" {
            throw RungateError(.forbidden, code: "org_suspended", message: "This organisation is suspended; its API and its agents are refused.",
                               recovery: "Contact your Rungate operator to lift the suspension.")
        }
        return OrgAccess(orgID: orgID, role: role)
    }
}

extension HTTPField.Name {
    static let xRequestedWith = HTTPField.Name("x-requested-with")!
}

extension HTTPRequest.Method {
    var isSafe: Bool { self == .get || self == .head || self == .options }
}
