import Common
import Foundation
import Hummingbird

/// Orgs: create, list mine, read, rename, settings, ownership transfer, leave, delete and restore.
struct OrgRoutes: RouteCollection {
    let services: ControlPlaneServices

    struct NameBody: Decodable { let name: String }
    struct TransferBody: Decodable { let userId: UUID }
    struct SettingsPatch: Decodable {
        let retentionDays: Int?
        let storePayloads: Bool?
        let alertThresholdPercent: Int?
    }

    var routes: [APIRoute] {
        let nameBody = Schema.object(["name": Schema.name], required: ["name"])
        return [
            APIRoute(.post, "/api/orgs", access: .user(allowsAdminToken: false), summary: "Create an org (the caller becomes its owner)",
                     success: .created, body: nameBody, handler: create),
            APIRoute(.get, "/api/orgs", access: .user(allowsAdminToken: true), summary: "The orgs the caller belongs to", handler: list),
            APIRoute(.get, "/api/orgs/{org}", access: .org(.orgRead), summary: "Read an org", handler: read),
            APIRoute(.patch, "/api/orgs/{org}", access: .org(.orgUpdate), summary: "Rename an org", body: nameBody, handler: rename),
            APIRoute(.delete, "/api/orgs/{org}", access: .org(.orgDelete),
                     summary: "Schedule the org's deletion (restorable for 24 hours, then every row and its data key are deleted)",
                     success: .accepted, handler: delete),
            APIRoute(.post, "/api/orgs/{org}/restore", access: .org(.orgRestore), summary: "Cancel a scheduled deletion", handler: restore),
            APIRoute(.post, "/api/orgs/{org}/transfer-ownership", access: .org(.orgTransferOwnership),
                     summary: "Make another member the owner (the caller becomes an admin)",
                     body: Schema.object(["user_id": Schema.uuid], required: ["user_id"]), handler: transfer),
            APIRoute(.post, "/api/orgs/{org}/leave", access: .org(.orgLeave), summary: "Leave the org (not as its last owner)",
                     success: .noContent, handler: leave),
            APIRoute(.get, "/api/orgs/{org}/settings", access: .org(.settingsRead), summary: "Read the org's settings", handler: readSettings),
            APIRoute(.patch, "/api/orgs/{org}/settings", access: .org(.settingsUpdate),
                     summary: "Change retention, payload storage or the budget alert threshold",
                     body: Schema.object(["retention_days": Schema.integer(1, 3650), "store_payloads": Schema.boolean,
                                          "alert_threshold_percent": Schema.integer(1, 100)]), handler: updateSettings),
            APIRoute(.get, "/api/orgs/{org}/billing", access: .org(.billingRead), summary: "The org's plan and limits", handler: billing),
        ]
    }

    @Sendable func create(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let name = try Self.validName(try await APIJSON.decode(NameBody.self, from: request).name)
        let orgID = UUID()
        let actor = AuditActor(identity, origin: services.origin(request, context))
        let org = try await services.database.withOrg(orgID) { connection in
            var org = try await services.orgs.create(id: orgID, name: name, on: connection)
            _ = try await services.dataKeys.create(orgID: orgID, on: connection)
            _ = try await services.members.add(identity.userID, role: .owner, on: connection)
            org.role = .owner
            try await services.audit.record(AuditEvent("org.create", target: "org", id: orgID, after: APIJSON.tree(org)),
                                            orgID: orgID, actor: actor, on: connection)
            return org
        }
        return try APIJSON.response(.created, org)
    }

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        var orgs = try await services.database.withUser(identity.userID) { connection in
            try await services.orgs.orgs(of: identity.userID, on: connection)
        }
        if case .adminToken(_, let orgID, _) = identity.credential { orgs = orgs.filter { $0.id == orgID } }
        return try APIJSON.response(.ok, ListResponse(orgs))
    }

    @Sendable func read(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let org = try await services.inOrg(request, context) { tx in try await current(tx) }
        return try APIJSON.response(.ok, org)
    }

    @Sendable func rename(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let name = try Self.validName(try await APIJSON.decode(NameBody.self, from: request).name)
        let org = try await services.inOrg(request, context) { tx in
            let before = try await current(tx)
            var after = try await services.orgs.rename(tx.orgID, to: name, on: tx.connection)!
            after.role = tx.access.role
            try await tx.record(AuditEvent("org.update", target: "org", id: tx.orgID, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            return after
        }
        return try APIJSON.response(.ok, org)
    }

    @Sendable func delete(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let due = services.configuration.now() + services.configuration.deletionGracePeriod
        let org = try await services.inOrg(request, context) { tx in
            let before = try await current(tx)
            var after = try await services.orgs.scheduleDeletion(tx.orgID, due: due, on: tx.connection)!
            after.role = tx.access.role
            try await tx.record(AuditEvent("org.delete_requested", target: "org", id: tx.orgID, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            // Agents stop at once: the data plane refuses an org pending deletion (sent at COMMIT).
            try await tx.notify(.org(tx.orgID))
            return after
        }
        return try APIJSON.response(.accepted, org)
    }

    @Sendable func restore(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let org = try await services.inOrg(request, context) { tx in
            let before = try await current(tx)
            guard before.deletionDueAt != nil else {
                throw RungateError(.conflict, code: "org_not_pending_deletion", message: "This organisation is not scheduled for deletion.")
            }
            var after = try await services.orgs.cancelDeletion(tx.orgID, on: tx.connection)!
            after.role = tx.access.role
            try await tx.record(AuditEvent("org.restore", target: "org", id: tx.orgID, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            try await tx.notify(.org(tx.orgID))
            return after
        }
        return try APIJSON.response(.ok, org)
    }

    @Sendable func transfer(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let body = try await APIJSON.decode(TransferBody.self, from: request)
        let identity = try context.requireIdentity()
        guard body.userId != identity.userID else {
            throw RungateError.badRequest("You already own this organisation.", recovery: "Name another member in `user_id`.")
        }
        let members = try await services.inOrg(request, context) { tx in
            guard let target = try await services.members.member(body.userId, on: tx.connection) else {
                throw RungateError.notFound("The member")
            }
            let caller = try await services.members.member(identity.userID, on: tx.connection)!
            let newOwner = try await services.members.setRole(target.userId, to: .owner, on: tx.connection)!
            let formerOwner = try await services.members.setRole(identity.userID, to: .admin, on: tx.connection)!
            try await tx.record(AuditEvent("org.transfer_ownership", target: "org", id: tx.orgID,
                                           before: ["owner": APIJSON.tree(caller), "new_owner": APIJSON.tree(target)],
                                           after: ["owner": APIJSON.tree(newOwner), "former_owner": APIJSON.tree(formerOwner)]))
            return [newOwner, formerOwner]
        }
        return try APIJSON.response(.ok, ListResponse(members))
    }

    @Sendable func leave(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        try await services.inOrg(request, context) { tx in
            let me = try await services.members.member(identity.userID, on: tx.connection)!
            if me.role == .owner, try await services.members.lockedOwnerCount(on: tx.connection) <= 1 {
                throw MemberRoutes.lastOwner
            }
            try await services.members.remove(identity.userID, on: tx.connection)
            try await tx.record(AuditEvent("members.leave", target: "member", id: identity.userID, before: APIJSON.tree(me)))
        }
        return Response(status: .noContent)
    }

    @Sendable func readSettings(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let settings = try await services.inOrg(request, context) { tx in try await services.orgs.settings(tx.orgID, on: tx.connection)! }
        return try APIJSON.response(.ok, settings)
    }

    @Sendable func updateSettings(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let patch = try await APIJSON.decode(SettingsPatch.self, from: request)
        if let days = patch.retentionDays, !(1...3650).contains(days) {
            throw RungateError(.unprocessableContent, code: "invalid_setting", message: "`retention_days` must be between 1 and 3650.")
        }
        if let percent = patch.alertThresholdPercent, !(1...100).contains(percent) {
            throw RungateError(.unprocessableContent, code: "invalid_setting", message: "`alert_threshold_percent` must be between 1 and 100.")
        }
        let settings = try await services.inOrg(request, context) { tx in
            let before = try await services.orgs.settings(tx.orgID, on: tx.connection)!
            var wanted = before
            wanted.retentionDays = patch.retentionDays ?? before.retentionDays
            wanted.storePayloads = patch.storePayloads ?? before.storePayloads
            wanted.alertThresholdPercent = patch.alertThresholdPercent ?? before.alertThresholdPercent
            let after = try await services.orgs.updateSettings(tx.orgID, wanted, on: tx.connection)!
            try await tx.record(AuditEvent("settings.update", target: "org_settings", id: tx.orgID, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            // The data plane caches "store payloads" with each agent's principal.
            try await tx.notify(.org(tx.orgID))
            return after
        }
        return try APIJSON.response(.ok, settings)
    }

    @Sendable func billing(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let billing = try await services.inOrg(request, context) { tx in
            try await tx.connection.query("SELECT plan, limits::text FROM orgs WHERE id = \(tx.orgID)", logger: services.database.logger)
                .firstRow(decoding: (String, String).self)!
        }
        return jsonResponse(.ok, ["plan": .string(billing.0), "limits": JSONValue.parse(billing.1) ?? [:]])
    }

    private func current(_ tx: OrgTransaction) async throws -> Org {
        guard var org = try await services.orgs.org(tx.orgID, on: tx.connection) else { throw RungateError.notFound("The organisation") }
        org.role = tx.access.role
        return org
    }

    static func validName(_ name: String) throws -> String {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(name.unicodeScalars.count) else {
            throw RungateError(.unprocessableContent, code: "invalid_name", message: "The name must be 1 to 200 characters.")
        }
        return name
    }
}
