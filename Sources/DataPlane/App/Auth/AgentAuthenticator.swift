import Common
import Foundation
import HTTPTypes
import Hummingbird

/// Turns a request's `Authorization: Bearer rg_agt_…` or `x-api-key: rg_agt_…` into a principal.
///
/// A malformed token is refused from its shape alone, before any lookup; a well-formed one is
/// looked up by hash (cache first). Errors say what is wrong without echoing the token.
public struct AgentAuthenticator: Sendable {
    let repository: any AgentRepository
    let cache: AgentTokenCache
    let usage: TokenUsageRecorder?

    public init(repository: any AgentRepository, cache: AgentTokenCache, usage: TokenUsageRecorder? = nil) {
        self.repository = repository
        self.cache = cache
        self.usage = usage
    }

    public func authenticate(_ request: Request) async throws -> AgentPrincipal {
        let presented: String
        if let authorization = request.headers.value(.authorization) {
            guard let credential = authorization.bearerCredential else {
                throw RungateError.unauthenticated("The Authorization header must be `Bearer rg_agt_…`.")
            }
            presented = credential
        } else if let apiKey = request.headers.value(.xAPIKey) {
            presented = apiKey.trimmedHeaderValue
        } else {
            throw RungateError.unauthenticated("No agent token was sent.")
        }
        let token: Token
        do {
            token = try Token.parse(presented, expecting: .agent)
        } catch {
            AuthMetrics.rejected(reason: "malformed")
            throw RungateError.unauthenticated("The agent token is not valid: \(error.description).")
        }
        let found: AgentPrincipal?
        do {
            let repository = self.repository, hash = token.hash
            found = try await cache.principal(tokenHash: hash) {
                AuthMetrics.databaseLookups.increment()
                return try await repository.principal(tokenHash: hash)
            }
        } catch {
            // A token this replica has never seen needs the database; a dead one is said within seconds.
            throw RungateError.dependencyUnavailable("database")
        }
        guard let principal = found else {
            AuthMetrics.rejected(reason: "unknown")
            throw RungateError.unauthenticated("The agent token is unknown, expired or revoked.")
        }
        guard principal.orgActive else {
            throw RungateError(
                .forbidden, code: "org_suspended", message: "This organisation is suspended; agent calls are refused.",
                recovery: "Contact your Rungate operator to lift the suspension.")
        }
        guard principal.agentActive else {
            throw RungateError(
                .forbidden, code: "agent_disabled", message: "This agent is disabled.",
                recovery: "An org admin can re-enable it in the control plane.")
        }
        usage?.noteUse(of: principal.tokenID)
        return principal
    }
}

extension HTTPField.Name {
    public static let xAPIKey = HTTPField.Name("x-api-key")!
    public static let rungateRunID = HTTPField.Name("x-rungate-run-id")!
    public static let rungateStepID = HTTPField.Name("x-rungate-step-id")!
    public static let rungatePolicy = HTTPField.Name("x-rungate-policy")!
}
