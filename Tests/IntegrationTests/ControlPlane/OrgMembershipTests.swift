import Common
import ControlPlane
import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import TestSupport
import Testing

/// Orgs, members, invitations, ownership and admin tokens, through the API as their users use them.
@Suite struct OrgMembershipTests {
    static let password = "correct horse battery"

    static func signUp(_ client: some TestClientProtocol, _ email: String) async throws -> String {
        let answer = try await client.call(.post, "/api/auth/signup", body: ["email": .string(email), "password": .string(password)])
        return try #require(answer.json["token"]?.stringValue)
    }

    @Test func inviteAcceptAndTheOwnerRules() async throws {
        try await TestDatabase.with { database in
            try await TestApps.controlPlane(database).test(.router) { client in
                let ann = try await Self.signUp(client, "ann@example.com")
                let bob = try await Self.signUp(client, "bob@example.com")
                let cat = try await Self.signUp(client, "cat@example.com")

                let created = try await client.call(.post, "/api/orgs", bearer: ann, body: ["name": "Acme"])
                #expect(created.status == .created && created.json["role"] == "owner")
                let org = try #require(created.json["id"]?.stringValue)
                #expect(org == org.lowercased())
                let mine = try await client.call(.get, "/api/orgs", bearer: ann)
                #expect(mine.json["data"]?[0]?["id"]?.stringValue == org)
                #expect(try await client.call(.get, "/api/orgs", bearer: bob).json["data"] == [])

                // Invite Bob as admin; the token is shown once and only its hash is stored.
                let invite = try await client.call(.post, "/api/orgs/\(org)/invitations", bearer: ann, body: ["email": "Bob@example.com", "role": "admin"])
                #expect(invite.status == .created)
                let invitation = try #require(invite.json["token"]?.stringValue)
                #expect(invitation.hasPrefix("rg_inv_"))
                // Cat cannot use Bob's invitation; Bob can, once.
                let stolen = try await client.call(.post, "/api/invitations/accept", bearer: cat, body: ["token": .string(invitation)])
                #expect(stolen.status == .forbidden && stolen.errorCode == "invitation_email_mismatch")
                let accepted = try await client.call(.post, "/api/invitations/accept", bearer: bob, body: ["token": .string(invitation)])
                #expect(accepted.status == .ok && accepted.json["member"]?["role"] == "admin")
                let reused = try await client.call(.post, "/api/invitations/accept", bearer: bob, body: ["token": .string(invitation)])
                #expect(reused.status == .notFound && reused.errorCode == "invitation_invalid")
                #expect(try await client.call(.get, "/api/orgs/\(org)/members", bearer: bob).json["data"]?[1]?["email"] == "bob@example.com")

                // Cat joins as a viewer.
                let catInvite = try await client.call(.post, "/api/orgs/\(org)/invitations", bearer: bob, body: ["email": "cat@example.com", "role": "viewer"])
                _ = try await client.call(.post, "/api/invitations/accept", bearer: cat, body: ["token": catInvite.json["token"]!])
                let me = try await client.call(.get, "/api/me", bearer: cat)
                #expect(me.json["orgs"]?[0]?["role"] == "viewer")
                let ids = try await client.call(.get, "/api/orgs/\(org)/members", bearer: ann).json["data"]
                let annID = try #require(ids?[0]?["user_id"]?.stringValue), bobID = try #require(ids?[1]?["user_id"]?.stringValue)
                let catID = try #require(ids?[2]?["user_id"]?.stringValue)

                // An admin cannot invite an owner, touch the owner, or make anyone an owner.
                let ownerInvite = try await client.call(.post, "/api/orgs/\(org)/invitations", bearer: bob, body: ["email": "x@example.com", "role": "owner"])
                #expect(ownerInvite.status == .forbidden && ownerInvite.errorCode == "owner_protected")
                let demoteOwner = try await client.call(.patch, "/api/orgs/\(org)/members/\(annID)", bearer: bob, body: ["role": "viewer"])
                #expect(demoteOwner.status == .forbidden && demoteOwner.errorCode == "owner_protected")
                let promote = try await client.call(.patch, "/api/orgs/\(org)/members/\(catID)", bearer: bob, body: ["role": "owner"])
                #expect(promote.status == .forbidden)
                #expect(try await client.call(.delete, "/api/orgs/\(org)/members/\(annID)", bearer: bob).status == .forbidden)
                // ...but can manage other members.
                #expect(try await client.call(.patch, "/api/orgs/\(org)/members/\(catID)", bearer: bob, body: ["role": "member"]).json["role"] == "member")

                // The last owner cannot leave or be demoted; after a transfer, the former owner is an admin.
                let leave = try await client.call(.post, "/api/orgs/\(org)/leave", bearer: ann)
                #expect(leave.status == .conflict && leave.errorCode == "last_owner")
                let selfDemote = try await client.call(.patch, "/api/orgs/\(org)/members/\(annID)", bearer: ann, body: ["role": "admin"])
                #expect(selfDemote.status == .conflict && selfDemote.errorCode == "last_owner")
                let transfer = try await client.call(.post, "/api/orgs/\(org)/transfer-ownership", bearer: ann, body: ["user_id": .string(bobID)])
                #expect(transfer.status == .ok)
                let roles = try await client.call(.get, "/api/orgs/\(org)/members", bearer: ann).json["data"]
                #expect(roles?[0]?["role"] == "admin" && roles?[1]?["role"] == "owner")
                // Ann is now an admin: deleting the org is not hers to do any more.
                #expect(try await client.call(.delete, "/api/orgs/\(org)", bearer: ann).status == .forbidden)
                #expect(try await client.call(.post, "/api/orgs/\(org)/leave", bearer: ann).status == .noContent)
                #expect(try await client.call(.get, "/api/orgs/\(org)", bearer: ann).status == .notFound)

                // Invalid ids and other orgs' ids look the same: not found.
                #expect(try await client.call(.get, "/api/orgs/not-a-uuid", bearer: bob).status == .notFound)
                #expect(try await client.call(.get, "/api/orgs/\(UUID().uuidString)", bearer: bob).status == .notFound)
                let malformed = try await client.call(.patch, "/api/orgs/\(org)", bearer: bob, body: "not an object")
                #expect(malformed.status == .badRequest)

                // The audit log has the story, newest first, filterable and paginated.
                let log = try await client.call(.get, "/api/orgs/\(org)/audit-log?limit=2", bearer: bob)
                #expect(log.status == .ok && log.json["data"]?[0]?["action"] == "members.leave")
                let cursor = try #require(log.json["next_cursor"]?.stringValue)
                let page2 = try await client.call(.get, "/api/orgs/\(org)/audit-log?limit=2&cursor=\(cursor)", bearer: bob)
                #expect(page2.json["data"]?[0]?["id"] != log.json["data"]?[0]?["id"])
                let invites = try await client.call(.get, "/api/orgs/\(org)/audit-log?action=members.invite", bearer: bob)
                #expect(invites.json["data"]?[0]?["after"]?["email"] == "cat@example.com")
                #expect(invites.json["data"]?[1]?["actor_id"]?.stringValue == annID)
                let badCursor = try await client.call(.get, "/api/orgs/\(org)/audit-log?cursor=zzz", bearer: bob)
                #expect(badCursor.status == .badRequest)
            }
        }
    }

    @Test func adminTokensActAsTheirUserNarrowedByScopes() async throws {
        try await TestDatabase.with { database in
            try await TestApps.controlPlane(database).test(.router) { client in
                let ann = try await Self.signUp(client, "ann@example.com")
                let org = try #require(try await client.call(.post, "/api/orgs", bearer: ann, body: ["name": "Acme"]).json["id"]?.stringValue)
                let other = try #require(try await client.call(.post, "/api/orgs", bearer: ann, body: ["name": "Other"]).json["id"]?.stringValue)

                let issued = try await client.call(.post, "/api/orgs/\(org)/admin-tokens", bearer: ann,
                                                   body: ["name": "ci", "scopes": ["teams.*", "members.read"]])
                #expect(issued.status == .created)
                let token = try #require(issued.json["token"]?.stringValue)
                #expect(token.hasPrefix("rg_adm_"))
                #expect(issued.json["admin_token"]?["display_prefix"]?.stringValue == String(token.prefix(11)))
                let tokenID = try #require(issued.json["admin_token"]?["id"]?.stringValue)

                #expect(try await client.call(.post, "/api/orgs/\(org)/teams", bearer: token, body: ["name": "infra"]).status == .created)
                #expect(try await client.call(.get, "/api/orgs/\(org)/members", bearer: token).status == .ok)
                let outOfScope = try await client.call(.patch, "/api/orgs/\(org)", bearer: token, body: ["name": "Hijacked"])
                #expect(outOfScope.status == .forbidden && outOfScope.errorCode == "scope_missing")
                // The token is bound to its org: Ann's other org does not exist for it.
                #expect(try await client.call(.get, "/api/orgs/\(other)/teams", bearer: token).status == .notFound)
                #expect(try await client.call(.get, "/api/orgs", bearer: token).json["data"]?[1] == nil)
                // Tokens cannot create orgs or mint broader tokens.
                #expect(try await client.call(.post, "/api/orgs", bearer: token, body: ["name": "x"]).status == .forbidden)
                let broader = try await client.call(.post, "/api/orgs/\(org)/admin-tokens", bearer: token, body: ["name": "b", "scopes": ["*"]])
                #expect(broader.status == .forbidden)
                let unknownScope = try await client.call(.post, "/api/orgs/\(org)/admin-tokens", bearer: ann, body: ["name": "b", "scopes": ["teams.destroy"]])
                #expect(unknownScope.status == .unprocessableContent && unknownScope.errorCode == "invalid_scope")

                // The audit log names the token as the actor of what it did.
                let log = try await client.call(.get, "/api/orgs/\(org)/audit-log?action=teams.create", bearer: ann)
                #expect(log.json["data"]?[0]?["actor_type"] == "admin_token" && log.json["data"]?[0]?["actor_id"]?.stringValue == tokenID)

                // Revoked: refused at once.
                #expect(try await client.call(.delete, "/api/orgs/\(org)/admin-tokens/\(tokenID)", bearer: ann).status == .noContent)
                let refused = try await client.call(.get, "/api/orgs/\(org)/members", bearer: token)
                #expect(refused.status == .unauthorized)
                let listed = try await client.call(.get, "/api/orgs/\(org)/admin-tokens", bearer: ann)
                #expect(listed.json["data"]?[0]?["revoked_at"] != .null)
                #expect(!String(describing: listed.json).contains(token), "a token's value is never shown again")
            }
        }
    }
}
