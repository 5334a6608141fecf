import Common
import Foundation
import HTTPTypes
import Hummingbird
import PostgresNIO

/// Turns a request's credential into an `Identity`: a session (`rungate_session` cookie or
/// `Authorization: Bearer rg_ses_…`) or an admin token (`Bearer rg_adm_…`).
///
/// A malformed credential is refused from its shape alone; agent and platform tokens are refused
/// with a message naming the service that takes them.
public struct Authenticator: Sendable {
    let users: any UserRepository
    let adminTokens: any AdminTokenRepository

    public init(users: any UserRepository, adminTokens: any AdminTokenRepository) {
        self.users = users
        self.adminTokens = adminTokens
    }

    /// The identity, nil when the request carries no credential at all.
    public func identity(_ request: Request) async throws -> Identity? {
        let presented: String
        let viaCookie: Bool
        if let authorization = request.headers[.authorization] {
            guard let credential = authorization.bearerCredential else {
                throw RungateError.unauthenticated("The Authorization header must be `Bearer <session or rg_adm_ token>`.")
            }
            presented = credential
            viaCookie = false
        } else if let cookie = SessionCookie.value(in: request.headers) {
            presented = cookie
            viaCookie = true
        } else {
            return nil
        }
        let token: Token
        do {
            token = try Token.parse(presented)
        } catch {
            throw RungateError.unauthenticated("The credential is not valid: \(error.description).")
        }
        do {
            switch token.kind {
            case .session:
                guard let (sessionID, user) = try await users.session(tokenHash: token.hash) else {
                    throw RungateError.unauthenticated("The session has expired or was signed out.")
                }
                return Identity(userID: user.id, email: user.email, credential: .session(id: sessionID, viaCookie: viaCookie))
            case .admin where !viaCookie:
                guard let found = try await adminTokens.principal(tokenHash: token.hash) else {
                    throw RungateError.unauthenticated("The admin token is unknown, expired or revoked.")
                }
                return Identity(userID: found.userID, email: found.email,
                                credential: .adminToken(id: found.tokenID, orgID: found.orgID, scopes: found.scopes))
            case .agent:
                throw RungateError.unauthenticated("Agent tokens (rg_agt_) are for the data plane; the control plane takes a session or an admin token (rg_adm_).")
            case .platform:
                throw RungateError.unauthenticated("Platform tokens are for the platform-admin service only.")
            case .admin, .invitation:
                throw RungateError.unauthenticated("This kind of token does not sign in to the control plane.")
            }
        } catch let error as RungateError {
            throw error
        } catch {
            throw RungateError.dependencyUnavailable("database")
        }
    }
}
