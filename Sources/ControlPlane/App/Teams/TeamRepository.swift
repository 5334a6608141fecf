import Common
import Foundation
import Logging
import PostgresNIO

public struct Team: Codable, Sendable {
    public let id: UUID
    public let name: String
    public let createdAt: Date
    public let memberIds: [UUID]
    public let agentIds: [UUID]
}

/// Teams of the org the connection is scoped to: groups of members and agents.
public protocol TeamRepository: Sendable {
    func teams(on connection: PostgresConnection) async throws -> [Team]
    func team(_ id: UUID, on connection: PostgresConnection) async throws -> Team?
    /// Nil when the name is taken in the org.
    func create(name: String, on connection: PostgresConnection) async throws -> Team?
    /// Nil when there is no such team; throws `TeamNameTaken` on a duplicate name.
    func rename(_ id: UUID, to name: String, on connection: PostgresConnection) async throws -> Team?
    func delete(_ id: UUID, on connection: PostgresConnection) async throws
    func addMember(_ userID: UUID, to id: UUID, on connection: PostgresConnection) async throws
    func removeMember(_ userID: UUID, from id: UUID, on connection: PostgresConnection) async throws
}

public struct TeamNameTaken: Error {}

public struct PostgresTeamRepository: TeamRepository {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func teams(on connection: PostgresConnection) async throws -> [Team] {
        try await select(id: nil, on: connection)
    }

    public func team(_ id: UUID, on connection: PostgresConnection) async throws -> Team? {
        try await select(id: id, on: connection).first
    }

    /// The org's teams with their member and agent ids; one team when `id` is given.
    private func select(id: UUID?, on connection: PostgresConnection) async throws -> [Team] {
        try await connection.query(
            """
            SELECT t.id, t.name, t.created_at,
                   COALESCE((SELECT array_agg(tm.user_id ORDER BY tm.user_id) FROM team_members tm WHERE tm.team_id = t.id), '{}'),
                   COALESCE((SELECT array_agg(a.id ORDER BY a.id) FROM agents a WHERE a.team_id = t.id), '{}')
            FROM teams t
            WHERE t.org_id = rungate_current_org() AND (\(id)::uuid IS NULL OR t.id = \(id))
            ORDER BY t.name
            """, logger: logger
        ).allRows(decoding: (UUID, String, Date, [UUID], [UUID]).self).map(Team.init)
    }

    public func create(name: String, on connection: PostgresConnection) async throws -> Team? {
        try await connection.query(
            """
            INSERT INTO teams (org_id, name) VALUES (rungate_current_org(), \(name)) ON CONFLICT (org_id, name) DO NOTHING
            RETURNING id, name, created_at
            """, logger: logger
        ).firstRow(decoding: (UUID, String, Date).self).map { Team(id: $0.0, name: $0.1, createdAt: $0.2, memberIds: [], agentIds: []) }
    }

    public func rename(_ id: UUID, to name: String, on connection: PostgresConnection) async throws -> Team? {
        let taken = try await connection.query(
            "SELECT EXISTS (SELECT 1 FROM teams WHERE org_id = rungate_current_org() AND name = \(name) AND id <> \(id))", logger: logger
        ).first(decoding: Bool.self) ?? false
        if taken { throw TeamNameTaken() }
        try await connection.query("UPDATE teams SET name = \(name) WHERE org_id = rungate_current_org() AND id = \(id)", logger: logger)
        return try await team(id, on: connection)
    }

    public func delete(_ id: UUID, on connection: PostgresConnection) async throws {
        // Agents stay, without a team.
        try await connection.query("UPDATE agents SET team_id = NULL WHERE org_id = rungate_current_org() AND team_id = \(id)", logger: logger)
        try await connection.query("DELETE FROM teams WHERE org_id = rungate_current_org() AND id = \(id)", logger: logger)
    }

    public func addMember(_ userID: UUID, to id: UUID, on connection: PostgresConnection) async throws {
        try await connection.query(
            "INSERT INTO team_members (org_id, team_id, user_id) VALUES (rungate_current_org(), \(id), \(userID)) ON CONFLICT DO NOTHING",
            logger: logger)
    }

    public func removeMember(_ userID: UUID, from id: UUID, on connection: PostgresConnection) async throws {
        try await connection.query(
            "DELETE FROM team_members WHERE org_id = rungate_current_org() AND team_id = \(id) AND user_id = \(userID)", logger: logger)
    }
}
