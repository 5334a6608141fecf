import Common
import Foundation
import Hummingbird

/// Teams: named groups of an org's members and agents.
struct TeamRoutes: RouteCollection {
    let services: ControlPlaneServices

    struct NameBody: Decodable { let name: String }

    var routes: [APIRoute] {
        let nameBody = Schema.object(["name": Schema.name], required: ["name"])
        return [
            APIRoute(.get, "/api/orgs/{org}/teams", access: .org(.teamsRead), summary: "List teams", handler: list),
            APIRoute(.post, "/api/orgs/{org}/teams", access: .org(.teamsCreate), summary: "Create a team", success: .created, body: nameBody, handler: create),
            APIRoute(.get, "/api/orgs/{org}/teams/{team}", access: .org(.teamsRead), summary: "Read a team", handler: read),
            APIRoute(.patch, "/api/orgs/{org}/teams/{team}", access: .org(.teamsUpdate), summary: "Rename a team", body: nameBody, handler: rename),
            APIRoute(.delete, "/api/orgs/{org}/teams/{team}", access: .org(.teamsDelete), summary: "Delete a team (its agents stay, without a team)",
                     success: .noContent, handler: delete),
            APIRoute(.put, "/api/orgs/{org}/teams/{team}/members/{user}", access: .org(.teamsUpdate), summary: "Add a member to a team",
                     handler: addMember),
            APIRoute(.delete, "/api/orgs/{org}/teams/{team}/members/{user}", access: .org(.teamsUpdate), summary: "Remove a member from a team",
                     handler: removeMember),
        ]
    }

    static let nameTaken = RungateError(.conflict, code: "team_name_taken", message: "A team with this name already exists in the organisation.",
                                        recovery: "Choose another name.")

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let teams = try await services.inOrg(request, context) { tx in try await services.teams.teams(on: tx.connection) }
        return try APIJSON.response(.ok, ListResponse(teams))
    }

    @Sendable func create(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let name = try OrgRoutes.validName(try await APIJSON.decode(NameBody.self, from: request).name)
        let team = try await services.inOrg(request, context) { tx in
            guard let team = try await services.teams.create(name: name, on: tx.connection) else { throw Self.nameTaken }
            try await tx.record(AuditEvent("teams.create", target: "team", id: team.id, after: APIJSON.tree(team)))
            return team
        }
        return try APIJSON.response(.created, team)
    }

    @Sendable func read(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("team", "The team")
        let team = try await services.inOrg(request, context) { tx in try await existing(id, tx) }
        return try APIJSON.response(.ok, team)
    }

    @Sendable func rename(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("team", "The team")
        let name = try OrgRoutes.validName(try await APIJSON.decode(NameBody.self, from: request).name)
        let team = try await services.inOrg(request, context) { tx in
            let before = try await existing(id, tx)
            let after: Team
            do {
                after = try await services.teams.rename(id, to: name, on: tx.connection)!
            } catch is TeamNameTaken {
                throw Self.nameTaken
            }
            try await tx.record(AuditEvent("teams.update", target: "team", id: id, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            return after
        }
        return try APIJSON.response(.ok, team)
    }

    @Sendable func delete(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("team", "The team")
        return try await services.deleteAudited(request, context, action: "teams.delete", target: "team", id: id,
                                                find: { tx in try await existing(id, tx) }) { tx, _ in
            try await services.teams.delete(id, on: tx.connection)
        }
    }

    @Sendable func addMember(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        try await changeMembership(request, context, adding: true)
    }

    @Sendable func removeMember(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        try await changeMembership(request, context, adding: false)
    }

    private func changeMembership(_ request: Request, _ context: ControlRequestContext, adding: Bool) async throws -> Response {
        let id = try context.id("team", "The team")
        let userID = try context.id("user", "The member")
        let team = try await services.inOrg(request, context) { tx in
            let before = try await existing(id, tx)
            guard try await services.members.member(userID, on: tx.connection) != nil else { throw RungateError.notFound("The member") }
            if adding {
                try await services.teams.addMember(userID, to: id, on: tx.connection)
            } else {
                try await services.teams.removeMember(userID, from: id, on: tx.connection)
            }
            let after = try await existing(id, tx)
            try await tx.record(AuditEvent(adding ? "teams.member_add" : "teams.member_remove", target: "team", id: id,
                                           before: APIJSON.tree(before), after: APIJSON.tree(after)))
            return after
        }
        return try APIJSON.response(.ok, team)
    }

    private func existing(_ id: UUID, _ tx: OrgTransaction) async throws -> Team {
        guard let team = try await services.teams.team(id, on: tx.connection) else { throw RungateError.notFound("The team") }
        return team
    }
}
