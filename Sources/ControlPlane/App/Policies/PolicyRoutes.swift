import Common
import Foundation
import Hummingbird

/// Policies: named rule sets with immutable, numbered versions. Publishing validates the rules and
/// names the path of every mistake; agents pin `name@version`.
struct PolicyRoutes: RouteCollection {
    let services: ControlPlaneServices

    var routes: [APIRoute] {
        let rules = Schema.anyObject
        return [
            APIRoute(.get, "/api/orgs/{org}/policies", access: .org(.policiesRead), summary: "List policies", handler: list),
            APIRoute(.post, "/api/orgs/{org}/policies", access: .org(.policiesCreate), summary: "Create a policy with its first version",
                     success: .created,
                     body: Schema.object(["name": ["type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]{0,99}$"], "description": Schema.string,
                                          "rules": rules], required: ["name", "rules"]), handler: create),
            APIRoute(.get, "/api/orgs/{org}/policies/{policy}", access: .org(.policiesRead), summary: "Read a policy and its versions", handler: read),
            APIRoute(.patch, "/api/orgs/{org}/policies/{policy}", access: .org(.policiesUpdate), summary: "Change a policy's description",
                     body: Schema.object(["description": Schema.nullable(Schema.string)]), handler: update),
            APIRoute(.delete, "/api/orgs/{org}/policies/{policy}", access: .org(.policiesDelete),
                     summary: "Delete a policy no agent is pinned to", success: .noContent, handler: delete),
            APIRoute(.post, "/api/orgs/{org}/policies/{policy}/versions", access: .org(.policiesUpdate),
                     summary: "Publish a new immutable version (422 names the path of each mistake)", success: .created,
                     body: Schema.object(["rules": rules], required: ["rules"]), handler: publish),
            APIRoute(.get, "/api/orgs/{org}/policies/{policy}/versions/{version}", access: .org(.policiesRead), summary: "Read one version",
                     handler: version),
            APIRoute(.get, "/api/orgs/{org}/policies/{policy}/diff", access: .org(.policiesRead),
                     summary: "What changed between two versions (?from=N&to=M)", handler: diff),
        ]
    }

    struct CreateBody: Decodable {
        let name: String
        let description: String?
        let rules: JSONValue
    }

    struct PublishBody: Decodable { let rules: JSONValue }

    struct Detail: Encodable {
        let policy: Policy
        let versions: [PolicyVersion]
    }

    struct Diff: Encodable {
        let from: Int
        let to: Int
        let changes: [JSONChange]
    }

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        try APIJSON.response(.ok, ListResponse(try await services.inOrg(request, context) { tx in try await services.policies.policies(on: tx.connection) }))
    }

    @Sendable func create(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let body = try await APIJSON.decode(CreateBody.self, from: request)
        guard body.name.wholeMatch(of: /[a-z0-9][a-z0-9_.\-]{0,99}/) != nil else {
            throw RungateError.invalidField("name", "must be 1-100 lowercase letters, digits, `_`, `.` or `-`, starting with a letter or digit")
        }
        let rules = try Self.validated(body.rules)
        let userID = try context.requireIdentity().userID
        let detail = try await services.inOrg(request, context) { tx in
            guard let id = try await services.policies.create(name: body.name, description: body.description, on: tx.connection) else {
                throw RungateError(.conflict, code: "policy_name_taken", message: "A policy with this name already exists.",
                                   recovery: "Publish a new version of it instead (POST …/policies/{policy}/versions).")
            }
            let version = try await services.policies.publish(id, rules: rules.json, createdBy: userID, on: tx.connection)
            let detail = Detail(policy: try await services.policies.policy(id, on: tx.connection)!, versions: [version])
            try await tx.record(AuditEvent("policies.create", target: "policy", id: id, after: APIJSON.tree(detail)))
            return detail
        }
        return try APIJSON.response(.created, detail)
    }

    @Sendable func read(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("policy", "The policy")
        let detail = try await services.inOrg(request, context) { tx in
            Detail(policy: try await existing(id, tx), versions: try await services.policies.versions(of: id, on: tx.connection))
        }
        return try APIJSON.response(.ok, detail)
    }

    @Sendable func update(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("policy", "The policy")
        let patch = try await PatchBody.decode(from: request, allowed: ["description"])
        let policy = try await services.inOrg(request, context) { tx in
            let before = try await existing(id, tx)
            try await services.policies.setDescription(id, try patch.string("description").applied(to: before.description), on: tx.connection)
            let after = try await existing(id, tx)
            try await tx.record(AuditEvent("policies.update", target: "policy", id: id, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            return after
        }
        return try APIJSON.response(.ok, policy)
    }

    @Sendable func delete(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("policy", "The policy")
        return try await services.deleteAudited(request, context, action: "policies.delete", target: "policy", id: id,
                                                find: { tx in try await existing(id, tx) }) { tx, before in
            guard before.agentCount == 0 else {
                throw RungateError(.conflict, code: "policy_in_use", message: "\(before.agentCount) agent(s) are pinned to this policy.",
                                   recovery: "Pin those agents to another policy (or none) first.")
            }
            try await services.policies.delete(id, on: tx.connection)
        }
    }

    @Sendable func publish(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("policy", "The policy")
        let rules = try Self.validated(try await APIJSON.decode(PublishBody.self, from: request).rules)
        let userID = try context.requireIdentity().userID
        let version = try await services.inOrg(request, context) { tx in
            let before = try await existing(id, tx)
            let version = try await services.policies.publish(id, rules: rules.json, createdBy: userID, on: tx.connection)
            try await tx.record(AuditEvent("policies.publish", target: "policy", id: id,
                                           before: ["latest_version": .number(Double(before.latestVersion))], after: APIJSON.tree(version)))
            return version
        }
        return try APIJSON.response(.created, version)
    }

    @Sendable func version(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("policy", "The policy")
        guard let number = context.parameters.get("version").flatMap(Int.init) else { throw RungateError.notFound("The policy version") }
        let version = try await services.inOrg(request, context) { tx in
            guard let version = try await services.policies.version(number, of: id, on: tx.connection) else { throw RungateError.notFound("The policy version") }
            return version
        }
        return try APIJSON.response(.ok, version)
    }

    @Sendable func diff(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("policy", "The policy")
        let query = request.uri.queryParameters
        guard let from = query["from"].flatMap({ Int(String($0)) }), let to = query["to"].flatMap({ Int(String($0)) }) else {
            throw RungateError.badRequest("Name the two versions: ?from=N&to=M.")
        }
        let diff = try await services.inOrg(request, context) { tx in
            guard let left = try await services.policies.version(from, of: id, on: tx.connection),
                  let right = try await services.policies.version(to, of: id, on: tx.connection)
            else { throw RungateError.notFound("The policy version") }
            return Diff(from: from, to: to, changes: left.rules.changes(to: right.rules))
        }
        return try APIJSON.response(.ok, diff)
    }

    private func existing(_ id: UUID, _ tx: OrgTransaction) async throws -> Policy {
        guard let policy = try await services.policies.policy(id, on: tx.connection) else { throw RungateError.notFound("The policy") }
        return policy
    }

    /// The rules, or a 422 listing each mistake with its path.
    static func validated(_ json: JSONValue) throws -> PolicyRules {
        do {
            return try PolicyRules.parse(json)
        } catch {
            let problems: [JSONValue] = error.problems.map { ["path": .string($0.path), "message": .string($0.message)] }
            throw RungateError(
                .unprocessableContent, code: "invalid_policy",
                message: "The policy has \(error.problems.count) mistake(s); the first: \(error.problems[0]).",
                recovery: "Fix each listed path and publish again.", details: ["problems": .array(problems)])
        }
    }
}
