import Common
import Foundation
import Hummingbird

/// Agents, their policy pin and team, and their tokens (`rg_agt_`, shown once). Every change that
/// the data plane caches is announced, so every replica drops it within a second.
struct AgentRoutes: RouteCollection {
    let services: ControlPlaneServices

    var routes: [APIRoute] {
        let agentFields: [String: JSONValue] = [
            "name": Schema.name, "description": Schema.nullable(Schema.string), "team_id": Schema.nullable(Schema.uuid),
            "policy": Schema.nullable(["type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]*@[0-9]+$"]),
        ]
        var patchFields = agentFields
        patchFields["status"] = ["type": "string", "enum": ["active", "disabled"]]
        return [
            APIRoute(.get, "/api/orgs/{org}/agents", access: .org(.agentsRead), summary: "List agents", handler: list),
            APIRoute(.post, "/api/orgs/{org}/agents", access: .org(.agentsCreate), summary: "Create an agent (optionally in a team, pinned to name@version)",
                     success: .created, body: Schema.object(agentFields, required: ["name"]), handler: create),
            APIRoute(.get, "/api/orgs/{org}/agents/{agent}", access: .org(.agentsRead), summary: "Read an agent", handler: read),
            APIRoute(.patch, "/api/orgs/{org}/agents/{agent}", access: .org(.agentsUpdate),
                     summary: "Change an agent: name, description, team, policy pin, or status (disabled agents are refused by the data plane)",
                     body: Schema.object(patchFields), handler: update),
            APIRoute(.delete, "/api/orgs/{org}/agents/{agent}", access: .org(.agentsDelete), summary: "Delete an agent and its tokens",
                     success: .noContent, handler: delete),
            APIRoute(.get, "/api/orgs/{org}/agents/{agent}/tokens", access: .org(.tokensRead), summary: "List the agent's tokens (metadata only)",
                     handler: tokens),
            APIRoute(.post, "/api/orgs/{org}/agents/{agent}/tokens", access: .org(.tokensCreate), summary: "Issue an agent token (returned once)",
                     success: .created, body: Schema.object(["name": Schema.string, "expires_in_days": Schema.integer(1, 3650)]), handler: issue),
            APIRoute(.post, "/api/orgs/{org}/agents/{agent}/tokens/{agent_token}/rotate", access: .org(.tokensCreate),
                     summary: "Issue a replacement token; the old one ends now or after grace_seconds", success: .created,
                     body: Schema.object(["grace_seconds": Schema.integer(0, 604_800)]), handler: rotate),
            APIRoute(.delete, "/api/orgs/{org}/agents/{agent}/tokens/{agent_token}", access: .org(.tokensRevoke),
                     summary: "Revoke an agent token (every data-plane replica refuses it within a second)", success: .noContent, handler: revoke),
        ]
    }

    struct CreateBody: Decodable {
        let name: String
        let description: String?
        let teamId: UUID?
        let policy: String?
    }

    struct IssueBody: Decodable {
        let name: String?
        let expiresInDays: Int?
    }

    struct RotateBody: Decodable { let graceSeconds: Int? }

    struct Issued: Encodable {
        let agentToken: AgentTokenInfo
        /// The secret value; shown only in this answer.
        let token: String
    }

    static let nameTaken = RungateError(.conflict, code: "agent_name_taken", message: "An agent with this name already exists in the organisation.",
                                        recovery: "Choose another name.")

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        try APIJSON.response(.ok, ListResponse(try await services.inOrg(request, context) { tx in try await services.agents.agents(on: tx.connection) }))
    }

    @Sendable func read(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("agent", "The agent")
        return try APIJSON.response(.ok, try await services.inOrg(request, context) { tx in try await existing(id, tx) })
    }

    @Sendable func create(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let body = try await APIJSON.decode(CreateBody.self, from: request)
        let name = try OrgRoutes.validName(body.name)
        let agent = try await services.inOrg(request, context) { tx in
            var changes = AgentChanges(name: name, description: body.description, teamID: nil, policyID: nil, policyVersion: nil, status: "active")
            changes.teamID = try await team(body.teamId, tx)
            (changes.policyID, changes.policyVersion) = try await pin(body.policy, tx)
            guard let agent = try await services.agents.create(changes, on: tx.connection) else { throw Self.nameTaken }
            try await tx.record(AuditEvent("agents.create", target: "agent", id: agent.id, after: APIJSON.tree(agent)))
            return agent
        }
        return try APIJSON.response(.created, agent)
    }

    @Sendable func update(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("agent", "The agent")
        let patch = try await PatchBody.decode(from: request, allowed: ["name", "description", "team_id", "policy", "status"])
        let agent = try await services.inOrg(request, context) { tx in
            let before = try await existing(id, tx)
            var changes = try await services.agents.changes(of: id, on: tx.connection)!
            if case .value(let name) = try patch.string("name") { changes.name = try OrgRoutes.validName(name) }
            changes.description = try patch.string("description").applied(to: changes.description)
            switch try patch.uuid("team_id") {
            case .absent: break
            case .null: changes.teamID = nil
            case .value(let teamID): changes.teamID = try await team(teamID, tx)
            }
            switch try patch.string("policy") {
            case .absent: break
            case .null: (changes.policyID, changes.policyVersion) = (nil, nil)
            case .value(let reference): (changes.policyID, changes.policyVersion) = try await pin(reference, tx)
            }
            switch try patch.string("status") {
            case .absent: break
            case .value(let status) where status == "active" || status == "disabled": changes.status = status
            default: throw RungateError.invalidField("status", "must be active or disabled")
            }
            guard let after = try await services.agents.update(id, changes, on: tx.connection) else { throw Self.nameTaken }
            try await tx.record(AuditEvent("agents.update", target: "agent", id: id, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            try await tx.notify(.agent(id))
            return after
        }
        return try APIJSON.response(.ok, agent)
    }

    @Sendable func delete(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("agent", "The agent")
        return try await services.deleteAudited(request, context, action: "agents.delete", target: "agent", id: id,
                                                find: { tx in try await existing(id, tx) }) { tx, _ in
            try await services.agents.delete(id, on: tx.connection)
            try await tx.notify(.agent(id))
        }
    }

    @Sendable func tokens(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("agent", "The agent")
        let tokens = try await services.inOrg(request, context) { tx in
            _ = try await existing(id, tx)
            return try await services.agents.tokens(of: id, on: tx.connection)
        }
        return try APIJSON.response(.ok, ListResponse(tokens))
    }

    @Sendable func issue(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("agent", "The agent")
        let body = try await APIJSON.decode(IssueBody.self, from: request)
        if let days = body.expiresInDays, !(1...3650).contains(days) { throw RungateError.invalidField("expires_in_days", "must be between 1 and 3650") }
        let userID = try context.requireIdentity().userID
        let token = Token.generate(.agent)
        let info = try await services.inOrg(request, context) { tx in
            _ = try await existing(id, tx)
            let info = try await services.agents.issueToken(token, agentID: id, name: body.name, createdBy: userID,
                                                            expiresAt: body.expiresInDays.map { Date() + .seconds($0 * 86_400) }, on: tx.connection)
            try await tx.record(AuditEvent("tokens.create", target: "agent_token", id: info.id, after: APIJSON.tree(info)))
            return info
        }
        return try APIJSON.response(.created, Issued(agentToken: info, token: token.value), headers: [.cacheControl: "no-store"])
    }

    @Sendable func rotate(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let agentID = try context.id("agent", "The agent")
        let tokenID = try context.id("agent_token", "The agent token")
        let grace = try await APIJSON.decode(RotateBody.self, from: request).graceSeconds ?? 0
        guard (0...604_800).contains(grace) else { throw RungateError.invalidField("grace_seconds", "must be between 0 and 604800") }
        let userID = try context.requireIdentity().userID
        let token = Token.generate(.agent)
        let info = try await services.inOrg(request, context) { tx in
            guard let (old, hash) = try await services.agents.token(tokenID, of: agentID, on: tx.connection) else {
                throw RungateError.notFound("The agent token")
            }
            guard let ended = try await services.agents.endToken(tokenID, of: agentID, at: grace > 0 ? Date() + .seconds(grace) : nil, on: tx.connection) else {
                throw RungateError(.conflict, code: "token_revoked", message: "This token is already revoked; issue a new one instead.")
            }
            let info = try await services.agents.issueToken(token, agentID: agentID, name: old.name, createdBy: userID, expiresAt: old.expiresAt,
                                                            on: tx.connection)
            try await tx.record(AuditEvent("tokens.rotate", target: "agent_token", id: tokenID,
                                           before: APIJSON.tree(old), after: ["old": APIJSON.tree(ended), "new": APIJSON.tree(info)]))
            try await tx.notify(.token(hash: hash))
            return info
        }
        return try APIJSON.response(.created, Issued(agentToken: info, token: token.value), headers: [.cacheControl: "no-store"])
    }

    @Sendable func revoke(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let agentID = try context.id("agent", "The agent")
        let tokenID = try context.id("agent_token", "The agent token")
        try await services.inOrg(request, context) { tx in
            guard let (before, hash) = try await services.agents.token(tokenID, of: agentID, on: tx.connection) else {
                throw RungateError.notFound("The agent token")
            }
            guard let after = try await services.agents.endToken(tokenID, of: agentID, at: nil, on: tx.connection) else {
                throw RungateError(.conflict, code: "token_revoked", message: "This token is already revoked.")
            }
            try await tx.record(AuditEvent("tokens.revoke", target: "agent_token", id: tokenID, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            try await tx.emit("token.revoked", ["agent_id": .string(agentID.lowercasedString), "token_id": .string(tokenID.lowercasedString)])
            try await tx.notify(.token(hash: hash))
        }
        return Response(status: .noContent)
    }

    private func existing(_ id: UUID, _ tx: OrgTransaction) async throws -> Agent {
        guard let agent = try await services.agents.agent(id, on: tx.connection) else { throw RungateError.notFound("The agent") }
        return agent
    }

    private func team(_ id: UUID?, _ tx: OrgTransaction) async throws -> UUID? {
        guard let id else { return nil }
        guard try await services.teams.team(id, on: tx.connection) != nil else { throw RungateError.invalidField("team_id", "names no team of this organisation") }
        return id
    }

    /// `name@version` → (policy id, version), or (nil, nil) for no pin.
    private func pin(_ reference: String?, _ tx: OrgTransaction) async throws -> (UUID?, Int?) {
        guard let reference else { return (nil, nil) }
        let parts = reference.split(separator: "@")
        guard parts.count == 2, let version = Int(parts[1]) else {
            throw RungateError.invalidField("policy", "must be `name@version`, e.g. `default@3`")
        }
        guard let id = try await services.policies.resolve(name: String(parts[0]), version: version, on: tx.connection) else {
            throw RungateError.invalidField("policy", "names no published policy version of this organisation")
        }
        return (id, version)
    }
}
