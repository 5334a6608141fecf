import Common
import Foundation
import Logging
import PostgresNIO

public struct Agent: Codable, Sendable {
    public let id: UUID
    public let name: String
    public let description: String?
    public let teamId: UUID?
    /// The pinned policy as `name@version`, or nil for none.
    public let policy: String?
    public let status: String
    public let createdAt: Date
    public let updatedAt: Date
}

/// Agent-token metadata: never the value or its hash.
public struct AgentTokenInfo: Codable, Sendable {
    public let id: UUID
    public let agentId: UUID
    public let name: String?
    public let displayPrefix: String
    public let createdBy: UUID?
    public let createdAt: Date
    public let lastUsedAt: Date?
    public let expiresAt: Date?
    public let revokedAt: Date?
}

public struct AgentChanges: Sendable {
    public var name: String
    public var description: String?
    public var teamID: UUID?
    public var policyID: UUID?
    public var policyVersion: Int?
    public var status: String
}

/// Agents and their tokens, in the org the connection is scoped to.
public protocol OrgAgentRepository: Sendable {
    func agents(on connection: PostgresConnection) async throws -> [Agent]
    func agent(_ id: UUID, on connection: PostgresConnection) async throws -> Agent?
    /// The stored fields, for a patch to start from.
    func changes(of id: UUID, on connection: PostgresConnection) async throws -> AgentChanges?
    /// Nil when the name is taken.
    func create(_ changes: AgentChanges, on connection: PostgresConnection) async throws -> Agent?
    /// Nil when the name is taken by another agent.
    func update(_ id: UUID, _ changes: AgentChanges, on connection: PostgresConnection) async throws -> Agent?
    func delete(_ id: UUID, on connection: PostgresConnection) async throws
    /// The hashes of the agent's live tokens (to invalidate caches when it goes).
    func tokenHashes(of agentID: UUID, on connection: PostgresConnection) async throws -> [String]

    func tokens(of agentID: UUID, on connection: PostgresConnection) async throws -> [AgentTokenInfo]
    func token(_ id: UUID, of agentID: UUID, on connection: PostgresConnection) async throws -> (info: AgentTokenInfo, hash: String)?
    func issueToken(_ token: Token, agentID: UUID, name: String?, createdBy: UUID, expiresAt: Date?, on connection: PostgresConnection) async throws -> AgentTokenInfo
    /// Ends a token now, or at `at` (a rotation's grace window); nil when it was already revoked.
    func endToken(_ id: UUID, of agentID: UUID, at: Date?, on connection: PostgresConnection) async throws -> AgentTokenInfo?
}

public struct PostgresOrgAgentRepository: OrgAgentRepository {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    private typealias AgentRow = (UUID, String, String?, UUID?, String?, Int?, String, Date, Date)

    private static func agent(_ row: AgentRow) -> Agent {
        Agent(id: row.0, name: row.1, description: row.2, teamId: row.3, policy: row.4.flatMap { name in row.5.map { "\(name)@\($0)" } },
              status: row.6, createdAt: row.7, updatedAt: row.8)
    }

    private func select(id: UUID?, on connection: PostgresConnection) async throws -> [Agent] {
        try await connection.query(
            """
            SELECT a.id, a.name, a.description, a.team_id, p.name, a.policy_version, a.status, a.created_at, a.updated_at
            FROM agents a LEFT JOIN policies p ON p.id = a.policy_id
            WHERE a.org_id = rungate_current_org() AND (\(id)::uuid IS NULL OR a.id = \(id))
            ORDER BY a.name
            """, logger: logger
        ).allRows(decoding: AgentRow.self).map(Self.agent)
    }

    public func agents(on connection: PostgresConnection) async throws -> [Agent] { try await select(id: nil, on: connection) }

    public func agent(_ id: UUID, on connection: PostgresConnection) async throws -> Agent? { try await select(id: id, on: connection).first }

    public func changes(of id: UUID, on connection: PostgresConnection) async throws -> AgentChanges? {
        try await connection.query(
            "SELECT name, description, team_id, policy_id, policy_version, status FROM agents WHERE org_id = rungate_current_org() AND id = \(id)",
            logger: logger
        ).firstRow(decoding: (String, String?, UUID?, UUID?, Int?, String).self).map(AgentChanges.init)
    }

    public func create(_ changes: AgentChanges, on connection: PostgresConnection) async throws -> Agent? {
        guard let id = try await connection.query(
            """
            INSERT INTO agents (org_id, name, description, team_id, policy_id, policy_version, status)
            VALUES (rungate_current_org(), \(changes.name), \(changes.description), \(changes.teamID), \(changes.policyID),
                    \(changes.policyVersion), \(changes.status))
            ON CONFLICT (org_id, name) DO NOTHING RETURNING id
            """, logger: logger
        ).first(decoding: UUID.self) else { return nil }
        return try await agent(id, on: connection)
    }

    public func update(_ id: UUID, _ changes: AgentChanges, on connection: PostgresConnection) async throws -> Agent? {
        let taken = try await connection.query(
            "SELECT EXISTS (SELECT 1 FROM agents WHERE org_id = rungate_current_org() AND name = \(changes.name) AND id <> \(id))", logger: logger
        ).first(decoding: Bool.self) ?? false
        if taken { return nil }
        try await connection.query(
            """
            UPDATE agents SET name = \(changes.name), description = \(changes.description), team_id = \(changes.teamID),
                policy_id = \(changes.policyID), policy_version = \(changes.policyVersion), status = \(changes.status), updated_at = now()
            WHERE org_id = rungate_current_org() AND id = \(id)
            """, logger: logger)
        return try await agent(id, on: connection)
    }

    public func delete(_ id: UUID, on connection: PostgresConnection) async throws {
        try await connection.query("DELETE FROM agents WHERE org_id = rungate_current_org() AND id = \(id)", logger: logger)
    }

    public func tokenHashes(of agentID: UUID, on connection: PostgresConnection) async throws -> [String] {
        try await connection.query(
            "SELECT token_hash FROM agent_tokens WHERE org_id = rungate_current_org() AND agent_id = \(agentID) AND revoked_at IS NULL",
            logger: logger
        ).all(decoding: String.self)
    }

    private typealias TokenRow = (UUID, UUID, String?, String, UUID?, Date, Date?, Date?, Date?)

    public func tokens(of agentID: UUID, on connection: PostgresConnection) async throws -> [AgentTokenInfo] {
        try await connection.query(
            """
            SELECT id, agent_id, name, display_prefix, created_by, created_at, last_used_at, expires_at, revoked_at
            FROM agent_tokens WHERE org_id = rungate_current_org() AND agent_id = \(agentID) ORDER BY created_at DESC, id
            """, logger: logger
        ).allRows(decoding: TokenRow.self).map(AgentTokenInfo.init)
    }

    public func token(_ id: UUID, of agentID: UUID, on connection: PostgresConnection) async throws -> (info: AgentTokenInfo, hash: String)? {
        try await connection.query(
            """
            SELECT id, agent_id, name, display_prefix, created_by, created_at, last_used_at, expires_at, revoked_at, token_hash
            FROM agent_tokens WHERE org_id = rungate_current_org() AND agent_id = \(agentID) AND id = \(id)
            """, logger: logger
        ).firstRow(decoding: (UUID, UUID, String?, String, UUID?, Date, Date?, Date?, Date?, String).self).map { row in
            (AgentTokenInfo(id: row.0, agentId: row.1, name: row.2, displayPrefix: row.3, createdBy: row.4, createdAt: row.5,
                            lastUsedAt: row.6, expiresAt: row.7, revokedAt: row.8), row.9)
        }
    }

    public func issueToken(_ token: Token, agentID: UUID, name: String?, createdBy: UUID, expiresAt: Date?, on connection: PostgresConnection) async throws -> AgentTokenInfo {
        try await connection.query(
            """
            INSERT INTO agent_tokens (org_id, agent_id, token_hash, display_prefix, name, created_by, expires_at)
            VALUES (rungate_current_org(), \(agentID), \(token.hash), \(token.displayPrefix), \(name), \(createdBy), \(expiresAt))
            RETURNING id, agent_id, name, display_prefix, created_by, created_at, last_used_at, expires_at, revoked_at
            """, logger: logger
        ).firstRow(decoding: TokenRow.self).map(AgentTokenInfo.init)!
    }

    public func endToken(_ id: UUID, of agentID: UUID, at: Date?, on connection: PostgresConnection) async throws -> AgentTokenInfo? {
        // Revocation is immediate; a rotation's grace window is an expiry, the token staying valid until then.
        try await connection.query(
            """
            UPDATE agent_tokens
            SET revoked_at = CASE WHEN \(at)::timestamptz IS NULL THEN now() ELSE revoked_at END,
                expires_at = CASE WHEN \(at)::timestamptz IS NULL THEN expires_at ELSE LEAST(COALESCE(expires_at, \(at)), \(at)) END
            WHERE org_id = rungate_current_org() AND agent_id = \(agentID) AND id = \(id) AND revoked_at IS NULL
            RETURNING id, agent_id, name, display_prefix, created_by, created_at, last_used_at, expires_at, revoked_at
            """, logger: logger
        ).firstRow(decoding: TokenRow.self).map(AgentTokenInfo.init)
    }
}
