import Common
import Foundation
import Logging
import PostgresNIO

public struct Policy: Codable, Sendable {
    public let id: UUID
    public let name: String
    public let description: String?
    public let latestVersion: Int
    public let createdAt: Date
    /// Agents pinned to any version of this policy.
    public let agentCount: Int
}

public struct PolicyVersion: Codable, Sendable {
    public let policyId: UUID
    public let version: Int
    public let rules: JSONValue
    public let createdBy: UUID?
    public let createdAt: Date
}

/// Policies and their immutable versions, in the org the connection is scoped to.
public protocol PolicyRepository: Sendable {
    func policies(on connection: PostgresConnection) async throws -> [Policy]
    func policy(_ id: UUID, on connection: PostgresConnection) async throws -> Policy?
    /// Nil when the name is taken.
    func create(name: String, description: String?, on connection: PostgresConnection) async throws -> UUID?
    func setDescription(_ id: UUID, _ description: String?, on connection: PostgresConnection) async throws
    func delete(_ id: UUID, on connection: PostgresConnection) async throws
    /// Publishes the next version (serialised per policy by a row lock).
    func publish(_ id: UUID, rules: JSONValue, createdBy: UUID, on connection: PostgresConnection) async throws -> PolicyVersion
    func versions(of id: UUID, on connection: PostgresConnection) async throws -> [PolicyVersion]
    func version(_ version: Int, of id: UUID, on connection: PostgresConnection) async throws -> PolicyVersion?
    /// `name@version` → the policy id, if that version exists.
    func resolve(name: String, version: Int, on connection: PostgresConnection) async throws -> UUID?
}

public struct PostgresPolicyRepository: PolicyRepository {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    private func select(id: UUID?, on connection: PostgresConnection) async throws -> [Policy] {
        try await connection.query(
            """
            SELECT p.id, p.name, p.description,
                   COALESCE((SELECT max(v.version) FROM policy_versions v WHERE v.policy_id = p.id), 0),
                   p.created_at,
                   (SELECT count(*)::int FROM agents a WHERE a.policy_id = p.id)
            FROM policies p
            WHERE p.org_id = rungate_current_org() AND (\(id)::uuid IS NULL OR p.id = \(id))
            ORDER BY p.name
            """, logger: logger
        ).allRows(decoding: (UUID, String, String?, Int, Date, Int).self).map(Policy.init)
    }

    public func policies(on connection: PostgresConnection) async throws -> [Policy] { try await select(id: nil, on: connection) }

    public func policy(_ id: UUID, on connection: PostgresConnection) async throws -> Policy? { try await select(id: id, on: connection).first }

    public func create(name: String, description: String?, on connection: PostgresConnection) async throws -> UUID? {
        try await connection.query(
            """
            INSERT INTO policies (org_id, name, description) VALUES (rungate_current_org(), \(name), \(description))
            ON CONFLICT (org_id, name) DO NOTHING RETURNING id
            """, logger: logger
        ).first(decoding: UUID.self)
    }

    public func setDescription(_ id: UUID, _ description: String?, on connection: PostgresConnection) async throws {
        try await connection.query(
            "UPDATE policies SET description = \(description) WHERE org_id = rungate_current_org() AND id = \(id)", logger: logger)
    }

    public func delete(_ id: UUID, on connection: PostgresConnection) async throws {
        try await connection.query("DELETE FROM policies WHERE org_id = rungate_current_org() AND id = \(id)", logger: logger)
    }

    public func publish(_ id: UUID, rules: JSONValue, createdBy: UUID, on connection: PostgresConnection) async throws -> PolicyVersion {
        try await connection.query("SELECT 1 FROM policies WHERE org_id = rungate_current_org() AND id = \(id) FOR UPDATE", logger: logger)
        return try await connection.query(
            """
            INSERT INTO policy_versions (org_id, policy_id, version, rules, created_by)
            SELECT rungate_current_org(), \(id), COALESCE(max(version), 0) + 1, \(rules.jsonb)::jsonb, \(createdBy)
            FROM policy_versions WHERE policy_id = \(id)
            RETURNING policy_id, version, rules::text, created_by, created_at
            """, logger: logger
        ).firstRow(decoding: (UUID, Int, String, UUID?, Date).self).map(Self.version)!
    }

    private static func version(_ row: (UUID, Int, String, UUID?, Date)) -> PolicyVersion {
        PolicyVersion(policyId: row.0, version: row.1, rules: JSONValue.parse(row.2) ?? [:], createdBy: row.3, createdAt: row.4)
    }

    public func versions(of id: UUID, on connection: PostgresConnection) async throws -> [PolicyVersion] {
        try await connection.query(
            """
            SELECT policy_id, version, rules::text, created_by, created_at FROM policy_versions
            WHERE org_id = rungate_current_org() AND policy_id = \(id) ORDER BY version
            """, logger: logger
        ).allRows(decoding: (UUID, Int, String, UUID?, Date).self).map(Self.version)
    }

    public func version(_ version: Int, of id: UUID, on connection: PostgresConnection) async throws -> PolicyVersion? {
        try await connection.query(
            """
            SELECT policy_id, version, rules::text, created_by, created_at FROM policy_versions
            WHERE org_id = rungate_current_org() AND policy_id = \(id) AND version = \(version)
            """, logger: logger
        ).firstRow(decoding: (UUID, Int, String, UUID?, Date).self).map(Self.version)
    }

    public func resolve(name: String, version: Int, on connection: PostgresConnection) async throws -> UUID? {
        try await connection.query(
            """
            SELECT p.id FROM policies p JOIN policy_versions v ON v.policy_id = p.id
            WHERE p.org_id = rungate_current_org() AND p.name = \(name) AND v.version = \(version)
            """, logger: logger
        ).first(decoding: UUID.self)
    }
}
