import Common
import Foundation
import Hummingbird

/// Members of an org and invitations to join it.
///
/// Roles change only within what the caller holds: an admin manages members and admins but never
/// touches an owner and never makes anyone an owner; the last owner can be neither demoted nor removed.
struct MemberRoutes: RouteCollection {
    let services: ControlPlaneServices

    struct RoleBody: Decodable { let role: Role }
    struct InviteBody: Decodable {
        let email: String
        let role: Role
    }
    struct AcceptBody: Decodable { let token: String }
    struct InvitationCreated: Encodable {
        let invitation: Invitation
        /// The single-use secret the invitee presents to POST /api/invitations/accept; shown once.
        let token: String
    }
    struct Joined: Encodable {
        let org: Org
        let member: Member
    }

    static let lastOwner = RungateError(
        .conflict, code: "last_owner", message: "The organisation's last owner cannot leave, be removed or be demoted.",
        recovery: "Transfer ownership (POST /api/orgs/{org}/transfer-ownership) or make another member an owner first.")

    var routes: [APIRoute] {
        [
            APIRoute(.get, "/api/orgs/{org}/members", access: .org(.membersRead), summary: "List members and their roles", handler: list),
            APIRoute(.patch, "/api/orgs/{org}/members/{user}", access: .org(.membersUpdateRole), summary: "Change a member's role",
                     body: Schema.object(["role": Schema.role], required: ["role"]), handler: changeRole),
            APIRoute(.delete, "/api/orgs/{org}/members/{user}", access: .org(.membersRemove), summary: "Remove a member (their admin tokens are revoked)",
                     success: .noContent, handler: remove),
            APIRoute(.post, "/api/orgs/{org}/invitations", access: .org(.membersInvite),
                     summary: "Invite someone by e-mail with a role (returns the single-use invitation token once)", success: .created,
                     body: Schema.object(["email": Schema.email, "role": Schema.role], required: ["email", "role"]), handler: invite),
            APIRoute(.get, "/api/orgs/{org}/invitations", access: .org(.membersRead), summary: "List invitations", handler: invitations),
            APIRoute(.delete, "/api/orgs/{org}/invitations/{invitation}", access: .org(.membersInvite), summary: "Revoke a pending invitation",
                     success: .noContent, handler: revokeInvitation),
            APIRoute(.post, "/api/invitations/accept", access: .user(allowsAdminToken: false),
                     summary: "Accept an invitation addressed to the signed-in user's e-mail",
                     body: Schema.object(["token": Schema.string], required: ["token"]),
                     errors: [.notFound: "The invitation is unknown, expired, revoked or used"], handler: accept),
        ]
    }

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let members = try await services.inOrg(request, context) { tx in try await services.members.members(on: tx.connection) }
        return try APIJSON.response(.ok, ListResponse(members))
    }

    @Sendable func changeRole(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let userID = try context.id("user", "The member")
        let role = try await APIJSON.decode(RoleBody.self, from: request).role
        let member = try await services.inOrg(request, context) { tx in
            guard let before = try await services.members.member(userID, on: tx.connection) else { throw RungateError.notFound("The member") }
            try Self.checkCanManage(before, caller: tx.access.role, newRole: role)
            if before.role == .owner, role != .owner, try await services.members.lockedOwnerCount(on: tx.connection) <= 1 {
                throw Self.lastOwner
            }
            let after = try await services.members.setRole(userID, to: role, on: tx.connection)!
            try await tx.record(AuditEvent("members.update_role", target: "member", id: userID, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            return after
        }
        return try APIJSON.response(.ok, member)
    }

    @Sendable func remove(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let userID = try context.id("user", "The member")
        try await services.inOrg(request, context) { tx in
            guard let before = try await services.members.member(userID, on: tx.connection) else { throw RungateError.notFound("The member") }
            try Self.checkCanManage(before, caller: tx.access.role, newRole: nil)
            if before.role == .owner, try await services.members.lockedOwnerCount(on: tx.connection) <= 1 {
                throw Self.lastOwner
            }
            try await services.members.remove(userID, on: tx.connection)
            try await tx.record(AuditEvent("members.remove", target: "member", id: userID, before: APIJSON.tree(before)))
        }
        return Response(status: .noContent)
    }

    /// Admins manage members and admins; only owners touch owners or make owners.
    static func checkCanManage(_ target: Member, caller: Role, newRole: Role?) throws {
        guard caller != .owner else { return }
        if target.role == .owner {
            throw RungateError(.forbidden, code: "owner_protected", message: "Only an owner can change or remove an owner.",
                               recovery: "Ask an owner of the organisation.")
        }
        if newRole == .owner {
            throw RungateError(.forbidden, code: "owner_protected", message: "Only an owner can make someone an owner.",
                               recovery: "Ask an owner; ownership can also be transferred by the owner.")
        }
    }

    @Sendable func invite(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let body = try await APIJSON.decode(InviteBody.self, from: request)
        let email = try AuthRoutes.normalised(email: body.email)
        let identity = try context.requireIdentity()
        let token = Token.generate(.invitation)
        let expiresAt = Date() + services.configuration.invitationLifetime
        let invitation = try await services.inOrg(request, context) { tx in
            if body.role == .owner, tx.access.role != .owner {
                throw RungateError(.forbidden, code: "owner_protected", message: "Only an owner can invite an owner.")
            }
            let existing = try await services.members.members(on: tx.connection)
            if existing.contains(where: { $0.email == email }) {
                throw RungateError(.conflict, code: "already_member", message: "This person is already a member.",
                                   recovery: "Change their role instead (PATCH /api/orgs/{org}/members/{user}).")
            }
            let invitation = try await services.members.invite(email: email, role: body.role, tokenHash: token.hash, invitedBy: identity.userID,
                                                              expiresAt: expiresAt, on: tx.connection)
            try await tx.record(AuditEvent("members.invite", target: "invitation", id: invitation.id, after: APIJSON.tree(invitation)))
            return invitation
        }
        return try APIJSON.response(.created, InvitationCreated(invitation: invitation, token: token.value), headers: [.cacheControl: "no-store"])
    }

    @Sendable func invitations(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let invitations = try await services.inOrg(request, context) { tx in try await services.members.invitations(on: tx.connection) }
        return try APIJSON.response(.ok, ListResponse(invitations))
    }

    @Sendable func revokeInvitation(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("invitation", "The invitation")
        try await services.inOrg(request, context) { tx in
            guard let before = try await services.members.invitation(id, on: tx.connection) else { throw RungateError.notFound("The invitation") }
            guard let after = try await services.members.revokeInvitation(id, on: tx.connection) else {
                throw RungateError(.conflict, code: "invitation_closed", message: "The invitation was already accepted or revoked.")
            }
            try await tx.record(AuditEvent("members.invitation_revoke", target: "invitation", id: id, before: APIJSON.tree(before), after: APIJSON.tree(after)))
        }
        return Response(status: .noContent)
    }

    @Sendable func accept(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let presented = try await APIJSON.decode(AcceptBody.self, from: request).token
        let invalid = RungateError(.notFound, code: "invitation_invalid", message: "The invitation is unknown, expired, revoked or already used.",
                                   recovery: "Ask the organisation for a new invitation.")
        guard let token = try? Token.parse(presented, expecting: .invitation) else { throw invalid }
        guard let pending = try await services.database.transaction({ connection in
            try await services.members.pendingInvitation(tokenHash: token.hash, on: connection)
        }) else { throw invalid }
        guard pending.email == identity.email else {
            throw RungateError(.forbidden, code: "invitation_email_mismatch",
                               message: "This invitation is addressed to another e-mail than the signed-in account's.",
                               recovery: "Sign in with the invited address (sign up first if needed) and accept again.")
        }
        let actor = AuditActor(identity, origin: services.origin(request, context))
        let joined = try await services.database.withOrg(pending.orgID) { connection in
            guard let invitation = try await services.members.consumeInvitation(pending.id, on: connection) else { throw invalid }
            let before = try await services.members.member(identity.userID, on: connection)
            let member = try await services.members.add(identity.userID, role: invitation.role, on: connection)!
            // Orgs created by platform staff have no data key yet (the platform holds no master key):
            // the first member to join creates it, before anything needs encrypting.
            if try await services.dataKeys.active(orgID: pending.orgID, on: connection) == nil {
                _ = try await services.dataKeys.create(orgID: pending.orgID, on: connection)
            }
            var org = try await services.orgs.org(pending.orgID, on: connection)!
            org.role = member.role
            try await services.audit.record(
                AuditEvent("members.join", target: "member", id: identity.userID, before: before.map(APIJSON.tree), after: APIJSON.tree(member)),
                orgID: pending.orgID, actor: actor, on: connection)
            return Joined(org: org, member: member)
        }
        return try APIJSON.response(.ok, joined)
    }
}
