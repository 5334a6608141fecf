import Common
import ControlPlane
import Foundation
import HummingbirdBcrypt
import PostgresNIO
import TestSupport

/// A user created straight in the database, with a live session.
struct FixtureUser: Sendable {
    let id: UUID
    let email: String
    let session: Token

    var idString: String { id.uuidString.lowercased() }
}

/// An org with one user per role (two owners, so an owner may leave), a spare member to act on
/// ("target", a viewer), a team, a pending invitation, admin tokens, and a user of another org.
/// Written as the database owner, so it does not depend on the code under test.
struct OrgFixture: Sendable {
    static let password = "fixture-password-123"
    /// bcrypt of `password` at cost 4, computed once.
    static let passwordHash = Bcrypt.hash(password, cost: 4)

    let orgID: UUID
    let otherOrgID: UUID
    let owner, coOwner, admin, member, viewer, target, outsider: FixtureUser
    let teamID: UUID
    let invitationID: UUID
    /// The owner's `*` token, for revocation.
    let ownerTokenID: UUID
    let ownerToken: Token
    /// The owner's token, already revoked.
    let revokedToken: Token

    var orgString: String { orgID.uuidString.lowercased() }

    func user(_ role: Role) -> FixtureUser {
        switch role {
        case .owner: owner
        case .admin: admin
        case .member: member
        case .viewer: viewer
        }
    }

    static func create(on client: PostgresClient) async throws -> OrgFixture {
        let logger = TestServers.logger
        let orgID = UUID(), otherOrgID = UUID()
        let tag = UUID().uuidString.prefix(8).lowercased()

        func user(_ name: String) async throws -> FixtureUser {
            let id = UUID(), session = Token.generate(.session), email = "\(name)-\(tag)@example.com"
            try await client.query("INSERT INTO users (id, email, password_hash) VALUES (\(id), \(email), \(passwordHash))", logger: logger)
            try await client.query(
                "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (\(id), \(session.hash), now() + interval '1 hour')", logger: logger)
            return FixtureUser(id: id, email: email, session: session)
        }
        func org(_ id: UUID, _ name: String) async throws {
            try await client.query("INSERT INTO orgs (id, name) VALUES (\(id), \(name))", logger: logger)
            try await client.query("INSERT INTO org_settings (org_id) VALUES (\(id))", logger: logger)
        }
        func join(_ org: UUID, _ user: FixtureUser, _ role: Role) async throws {
            try await client.query("INSERT INTO memberships (org_id, user_id, role) VALUES (\(org), \(user.id), \(role.rawValue))", logger: logger)
        }
        func token(_ user: FixtureUser, scopes: [String], revoked: Bool = false) async throws -> (UUID, Token) {
            let token = Token.generate(.admin)
            let id = try await client.query(
                """
                INSERT INTO admin_tokens (org_id, user_id, token_hash, display_prefix, name, scopes, revoked_at)
                VALUES (\(orgID), \(user.id), \(token.hash), \(token.displayPrefix), 'fixture', \(scopes), \(revoked ? Date() : nil))
                RETURNING id
                """, logger: logger).first(decoding: UUID.self)!
            return (id, token)
        }

        try await org(orgID, "Fixture org \(tag)")
        try await org(otherOrgID, "Other org \(tag)")
        let owner = try await user("owner"), coOwner = try await user("coowner"), admin = try await user("admin")
        let member = try await user("member"), viewer = try await user("viewer"), target = try await user("target")
        let outsider = try await user("outsider")
        for (user, role) in [(owner, Role.owner), (coOwner, .owner), (admin, .admin), (member, .member), (viewer, .viewer), (target, .viewer)] {
            try await join(orgID, user, role)
        }
        try await join(otherOrgID, outsider, .owner)
        let teamID = try await client.query("INSERT INTO teams (org_id, name) VALUES (\(orgID), 'platform') RETURNING id", logger: logger)
            .first(decoding: UUID.self)!
        try await client.query("INSERT INTO team_members (org_id, team_id, user_id) VALUES (\(orgID), \(teamID), \(target.id))", logger: logger)
        let invitationID = try await client.query(
            """
            INSERT INTO invitations (org_id, email, role, token_hash, invited_by, expires_at)
            VALUES (\(orgID), \("invitee-\(tag)@example.com"), 'member', \(Token.generate(.invitation).hash), \(owner.id), now() + interval '1 day')
            RETURNING id
            """, logger: logger).first(decoding: UUID.self)!
        let (ownerTokenID, ownerToken) = try await token(owner, scopes: ["*"])
        let (_, revokedToken) = try await token(owner, scopes: ["*"], revoked: true)
        return OrgFixture(orgID: orgID, otherOrgID: otherOrgID, owner: owner, coOwner: coOwner, admin: admin, member: member, viewer: viewer,
                          target: target, outsider: outsider, teamID: teamID, invitationID: invitationID,
                          ownerTokenID: ownerTokenID, ownerToken: ownerToken, revokedToken: revokedToken)
    }

    /// An admin token of the owner holding every scope except `action`'s.
    func tokenLacking(_ action: Action, on client: PostgresClient) async throws -> Token {
        let token = Token.generate(.admin)
        let scopes = Action.allCases.filter { $0 != action }.map(\.rawValue)
        try await client.query(
            """
            INSERT INTO admin_tokens (org_id, user_id, token_hash, display_prefix, name, scopes)
            VALUES (\(orgID), \(owner.id), \(token.hash), \(token.displayPrefix), 'narrow', \(scopes))
            """, logger: TestServers.logger)
        return token
    }

    /// A pending invitation for `email` into the other org; returns its token.
    func invitation(for email: String, on client: PostgresClient) async throws -> Token {
        let token = Token.generate(.invitation)
        try await client.query(
            """
            INSERT INTO invitations (org_id, email, role, token_hash, invited_by, expires_at)
            VALUES (\(otherOrgID), \(email), 'viewer', \(token.hash), \(outsider.id), now() + interval '1 day')
            """, logger: TestServers.logger)
        return token
    }
}
