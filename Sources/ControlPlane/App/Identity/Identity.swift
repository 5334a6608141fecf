import Common
import Foundation

/// Who is calling the control plane: a user, through a session or one of their admin tokens.
public struct Identity: Sendable {
    public enum Credential: Sendable {
        /// A signed-in session; `viaCookie` when it came from the browser cookie (CSRF rules apply).
        case session(id: UUID, viaCookie: Bool)
        /// An admin token: bound to one org, acting as its user, narrowed by its scopes.
        case adminToken(id: UUID, orgID: UUID, scopes: ScopeSet)
    }

    public let userID: UUID
    public let email: String
    public let credential: Credential

    /// How the audit log names this caller: the user, or the token acting for them.
    public var auditActor: (type: String, id: String) {
        switch credential {
        case .session: ("user", userID.lowercasedString)
        case .adminToken(let id, _, _): ("admin_token", id.lowercasedString)
        }
    }

    public var sessionID: UUID? {
        if case .session(let id, _) = credential { return id }
        return nil
    }
}

/// Where a request came from, for the audit log.
public struct Origin: Sendable {
    public var ip: String?
    public var userAgent: String?
}

/// The caller's standing in the org named by the request path, once authorized.
public struct OrgAccess: Sendable {
    public let orgID: UUID
    public let role: Role
}
