import Common
import Foundation
import Logging
import PostgresNIO

public struct Member: Codable, Sendable {
    public let userId: UUID
    public let email: String
    public let displayName: String?
    public let role: Role
    public let joinedAt: Date
}

public struct Invitation: Codable, Sendable {
    public let id: UUID
    public let email: String
    public let role: Role
    public let invitedBy: UUID?
    public let createdAt: Date
    public let expiresAt: Date
    public let acceptedAt: Date?
    public let revokedAt: Date?
}

/// Memberships and invitations of the org the connection is scoped to.
public protocol MemberRepository: Sendable {
    func members(on connection: PostgresConnection) async throws -> [Member]
    func member(_ userID: UUID, on connection: PostgresConnection) async throws -> Member?
    /// Adds the user, or (for an existing member) leaves their role as it is; returns the membership.
    func add(_ userID: UUID, role: Role, on connection: PostgresConnection) async throws -> Member?
    func setRole(_ userID: UUID, to role: Role, on connection: PostgresConnection) async throws -> Member?
    func remove(_ userID: UUID, on connection: PostgresConnection) async throws
    /// How many owners the org has, counted under a row lock so two concurrent demotions cannot
    /// both believe another owner remains.
    func lockedOwnerCount(on connection: PostgresConnection) async throws -> Int

    func invite(email: String, role: Role, tokenHash: String, invitedBy: UUID, expiresAt: Date, on connection: PostgresConnection) async throws -> Invitation
    func invitations(on connection: PostgresConnection) async throws -> [Invitation]
    func invitation(_ id: UUID, on connection: PostgresConnection) async throws -> Invitation?
    func revokeInvitation(_ id: UUID, on connection: PostgresConnection) async throws -> Invitation?
    /// Marks a pending invitation accepted; nil when it was already used, revoked or expired.
    func consumeInvitation(_ id: UUID, on connection: PostgresConnection) async throws -> Invitation?
    /// The pending invitation behind a token hash, in any org (a definer function: the org is not yet known).
    func pendingInvitation(tokenHash: String, on connection: PostgresConnection) async throws -> (id: UUID, orgID: UUID, email: String)?
}

public struct PostgresMemberRepository: MemberRepository {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    private typealias MemberRow = (UUID, String, String?, String, Date)

    private static func member(_ row: MemberRow) -> Member? {
        Role(rawValue: row.3).map { Member(userId: row.0, email: row.1, displayName: row.2, role: $0, joinedAt: row.4) }
    }

    public func members(on connection: PostgresConnection) async throws -> [Member] {
        try await connection.query(
            """
            SELECT u.id, u.email, u.display_name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.org_id = rungate_current_org() ORDER BY m.created_at, u.email
            """, logger: logger
        ).allRows(decoding: MemberRow.self).compactMap(Self.member)
    }

    public func member(_ userID: UUID, on connection: PostgresConnection) async throws -> Member? {
        try await connection.query(
            """
            SELECT u.id, u.email, u.display_name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.org_id = rungate_current_org() AND m.user_id = \(userID)
            """, logger: logger
        ).firstRow(decoding: MemberRow.self).flatMap(Self.member)
    }

    public func add(_ userID: UUID, role: Role, on connection: PostgresConnection) async throws -> Member? {
        try await connection.query(
            """
            INSERT INTO memberships (org_id, user_id, role) VALUES (rungate_current_org(), \(userID), \(role.rawValue))
            ON CONFLICT (org_id, user_id) DO NOTHING
            """, logger: logger)
        return try await member(userID, on: connection)
    }

    public func setRole(_ userID: UUID, to role: Role, on connection: PostgresConnection) async throws -> Member? {
        try await connection.query(
            "UPDATE memberships SET role = \(role.rawValue) WHERE org_id = rungate_current_org() AND user_id = \(userID)", logger: logger)
        return try await member(userID, on: connection)
    }

    public func remove(_ userID: UUID, on connection: PostgresConnection) async throws {
        try await connection.query("DELETE FROM memberships WHERE org_id = rungate_current_org() AND user_id = \(userID)", logger: logger)
        // A former member's teams and admin tokens in this org go with the membership.
        try await connection.query("DELETE FROM team_members WHERE org_id = rungate_current_org() AND user_id = \(userID)", logger: logger)
        try await connection.query(
            "UPDATE admin_tokens SET revoked_at = now() WHERE org_id = rungate_current_org() AND user_id = \(userID) AND revoked_at IS NULL",
            logger: logger)
    }

    public func lockedOwnerCount(on connection: PostgresConnection) async throws -> Int {
        try await connection.query("SELECT 1 FROM orgs WHERE id = rungate_current_org() FOR UPDATE", logger: logger)
        return try await connection.query(
            "SELECT count(*)::int FROM memberships WHERE org_id = rungate_current_org() AND role = 'owner'", logger: logger
        ).first(decoding: Int.self) ?? 0
    }

    private typealias InvitationRow = (UUID, String, String, UUID?, Date, Date, Date?, Date?)

    private static func invitation(_ row: InvitationRow) -> Invitation? {
        Role(rawValue: row.2).map {
            Invitation(id: row.0, email: row.1, role: $0, invitedBy: row.3, createdAt: row.4, expiresAt: row.5, acceptedAt: row.6, revokedAt: row.7)
        }
    }

    public func invite(email: String, role: Role, tokenHash: String, invitedBy: UUID, expiresAt: Date, on connection: PostgresConnection) async throws -> Invitation {
        try await connection.query(
            """
            INSERT INTO invitations (org_id, email, role, token_hash, invited_by, expires_at)
            VALUES (rungate_current_org(), \(email), \(role.rawValue), \(tokenHash), \(invitedBy), \(expiresAt))
            RETURNING id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at
            """, logger: logger
        ).firstRow(decoding: InvitationRow.self).flatMap(Self.invitation)!
    }

    public func invitations(on connection: PostgresConnection) async throws -> [Invitation] {
        try await connection.query(
            """
            SELECT id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at FROM invitations
            WHERE org_id = rungate_current_org() ORDER BY created_at DESC, id
            """, logger: logger
        ).allRows(decoding: InvitationRow.self).compactMap(Self.invitation)
    }

    public func invitation(_ id: UUID, on connection: PostgresConnection) async throws -> Invitation? {
        try await connection.query(
            """
            SELECT id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at FROM invitations
            WHERE org_id = rungate_current_org() AND id = \(id)
            """, logger: logger
        ).firstRow(decoding: InvitationRow.self).flatMap(Self.invitation)
    }

    public func revokeInvitation(_ id: UUID, on connection: PostgresConnection) async throws -> Invitation? {
        try await connection.query(
            """
            UPDATE invitations SET revoked_at = now()
            WHERE org_id = rungate_current_org() AND id = \(id) AND revoked_at IS NULL AND accepted_at IS NULL
            RETURNING id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at
            """, logger: logger
        ).firstRow(decoding: InvitationRow.self).flatMap(Self.invitation)
    }

    public func consumeInvitation(_ id: UUID, on connection: PostgresConnection) async throws -> Invitation? {
        try await connection.query(
            """
            UPDATE invitations SET accepted_at = now()
            WHERE org_id = rungate_current_org() AND id = \(id) AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
            RETURNING id, email, role, invited_by, created_at, expires_at, accepted_at, revoked_at
            """, logger: logger
        ).firstRow(decoding: InvitationRow.self).flatMap(Self.invitation)
    }

    public func pendingInvitation(tokenHash: String, on connection: PostgresConnection) async throws -> (id: UUID, orgID: UUID, email: String)? {
        try await connection.query(
            "SELECT invitation_id, org_id, email FROM rungate_invitation_by_hash(\(tokenHash))", logger: logger
        ).firstRow(decoding: (UUID, UUID, String).self).map { (id: $0.0, orgID: $0.1, email: $0.2) }
    }
}
