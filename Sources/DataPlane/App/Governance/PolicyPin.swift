import Common
import Foundation
import Hummingbird

extension PolicyStore {
    /// The policy version named by `x-rungate-policy: name@version`, if the agent may use it: an
    /// agent pinned to a policy may choose any version of that policy; an unpinned agent any policy
    /// of its org. Nil when the header is absent (the agent's pin applies).
    func requested(by request: Request, principal: AgentPrincipal) async throws -> (id: UUID, version: Int)? {
        guard let header = request.headers.value(.rungatePolicy)?.trimmedHeaderValue else { return nil }
        let parts = header.split(separator: "@")
        guard parts.count == 2, let version = Int(parts[1]), !parts[0].isEmpty else {
            throw RungateError.badRequest("x-rungate-policy must be `name@version`, e.g. `default@3`.")
        }
        let found: UUID?
        do {
            found = try await resolve(name: String(parts[0]), version: version, orgID: principal.orgID)
        } catch {
            throw RungateError.dependencyUnavailable("database")
        }
        guard let id = found else {
            throw RungateError(.forbidden, code: "policy_not_found", message: "No policy version `\(header)` exists in this organisation.",
                               recovery: "Name a published version (the control plane lists them), or omit the header to use the agent's pin.",
                               rule: RuleMatch(rule: "policy.pin"))
        }
        if let pinned = principal.policyID, pinned != id {
            throw RungateError(.forbidden, code: "policy_not_allowed", message: "This agent is pinned to another policy; it may not run under `\(header)`.",
                               recovery: "Use a version of the agent's own policy, or ask an org admin to change its pin.",
                               rule: RuleMatch(rule: "policy.pin"))
        }
        return (id, version)
    }
}
