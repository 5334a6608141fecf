import Common
import Foundation
import Logging
import PostgresNIO

public struct Org: Codable, Sendable {
    public let id: UUID
    public let name: String
    public let status: String
    public let plan: String
    public let createdAt: Date
    public let updatedAt: Date
    public let deletionRequestedAt: Date?
    public let deletionDueAt: Date?
    /// The caller's role, in lists of "my orgs".
    public var role: Role?
}

public struct OrgSettings: Codable, Sendable {
    public var retentionDays: Int
    public var storePayloads: Bool
    public var alertThresholdPercent: Int
    public var updatedAt: Date?
}

/// Orgs and their settings. Every method runs on a connection already scoped by `withOrg` (or,
/// for `orgs(of:)`, by `withUser`).
public protocol OrgRepository: Sendable {
    func create(id: UUID, name: String, on connection: PostgresConnection) async throws -> Org
    func org(_ id: UUID, on connection: PostgresConnection) async throws -> Org?
    func orgs(of userID: UUID, on connection: PostgresConnection) async throws -> [Org]
    func rename(_ id: UUID, to name: String, on connection: PostgresConnection) async throws -> Org?
    func scheduleDeletion(_ id: UUID, due: Date, on connection: PostgresConnection) async throws -> Org?
    func cancelDeletion(_ id: UUID, on connection: PostgresConnection) async throws -> Org?
    func settings(_ id: UUID, on connection: PostgresConnection) async throws -> OrgSettings?
    func updateSettings(_ id: UUID, _ settings: OrgSettings, on connection: PostgresConnection) async throws -> OrgSettings?
    /// Org ids whose deletion grace window has passed at `now` (across orgs: a definer function).
    func dueForDeletion(at now: Date, on connection: PostgresConnection) async throws -> [UUID]
    /// Deletes every row of the org and its data key, if its deletion is due at `now`.
    func purge(_ id: UUID, at now: Date, on connection: PostgresConnection) async throws -> Bool
}

public struct PostgresOrgRepository: OrgRepository {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    private typealias Row = (UUID, String, String, String, Date, Date, Date?, Date?)

    private static func org(_ row: Row, role: Role? = nil) -> Org {
        Org(id: row.0, name: row.1, status: row.2, plan: row.3, createdAt: row.4, updatedAt: row.5,
            deletionRequestedAt: row.6, deletionDueAt: row.7, role: role)
    }

    private func one(_ query: PostgresQuery, on connection: PostgresConnection) async throws -> Org? {
        try await connection.query(query, logger: logger).firstRow(decoding: Row.self).map { Self.org($0) }
    }

    public func create(id: UUID, name: String, on connection: PostgresConnection) async throws -> Org {
        let org = try await one(
            "INSERT INTO orgs (id, name) VALUES (\(id), \(name)) RETURNING id, name, status, plan, created_at, updated_at, deletion_requested_at, deletion_due_at",
            on: connection)!
        try await connection.query("INSERT INTO org_settings (org_id) VALUES (\(id))", logger: logger)
        return org
    }

    public func org(_ id: UUID, on connection: PostgresConnection) async throws -> Org? {
        try await one("SELECT id, name, status, plan, created_at, updated_at, deletion_requested_at, deletion_due_at FROM orgs WHERE id = \(id)", on: connection)
    }

    public func orgs(of userID: UUID, on connection: PostgresConnection) async throws -> [Org] {
        try await connection.query(
            """
            SELECT o.id, o.name, o.status, o.plan, o.created_at, o.updated_at, o.deletion_requested_at, o.deletion_due_at, m.role
            FROM memberships m JOIN orgs o ON o.id = m.org_id
            WHERE m.user_id = \(userID)
            ORDER BY o.created_at, o.id
            """, logger: logger
        ).allRows(decoding: (UUID, String, String, String, Date, Date, Date?, Date?, String).self).map { row in
            Self.org((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7), role: Role(rawValue: row.8))
        }
    }

    public func rename(_ id: UUID, to name: String, on connection: PostgresConnection) async throws -> Org? {
        try await one(
            "UPDATE orgs SET name = \(name), updated_at = now() WHERE id = \(id) RETURNING id, name, status, plan, created_at, updated_at, deletion_requested_at, deletion_due_at",
            on: connection)
    }

    public func scheduleDeletion(_ id: UUID, due: Date, on connection: PostgresConnection) async throws -> Org? {
        try await one(
            """
            UPDATE orgs SET deletion_requested_at = now(), deletion_due_at = \(due), updated_at = now() WHERE id = \(id)
            RETURNING id, name, status, plan, created_at, updated_at, deletion_requested_at, deletion_due_at
            """, on: connection)
    }

    public func cancelDeletion(_ id: UUID, on connection: PostgresConnection) async throws -> Org? {
        try await one(
            """
            UPDATE orgs SET deletion_requested_at = NULL, deletion_due_at = NULL, updated_at = now() WHERE id = \(id)
            RETURNING id, name, status, plan, created_at, updated_at, deletion_requested_at, deletion_due_at
            """, on: connection)
    }

    public func settings(_ id: UUID, on connection: PostgresConnection) async throws -> OrgSettings? {
        try await connection.query(
            "SELECT retention_days, store_payloads, alert_threshold_percent, updated_at FROM org_settings WHERE org_id = \(id)", logger: logger
        ).firstRow(decoding: (Int, Bool, Int, Date).self).map(OrgSettings.init)
    }

    public func updateSettings(_ id: UUID, _ settings: OrgSettings, on connection: PostgresConnection) async throws -> OrgSettings? {
        try await connection.query(
            """
            UPDATE org_settings SET retention_days = \(settings.retentionDays), store_payloads = \(settings.storePayloads),
                alert_threshold_percent = \(settings.alertThresholdPercent), updated_at = now()
            WHERE org_id = \(id)
            RETURNING retention_days, store_payloads, alert_threshold_percent, updated_at
            """, logger: logger
        ).firstRow(decoding: (Int, Bool, Int, Date).self).map(OrgSettings.init)
    }

    public func dueForDeletion(at now: Date, on connection: PostgresConnection) async throws -> [UUID] {
        try await connection.query("SELECT rungate_orgs_due_for_deletion(\(now))", logger: logger).all(decoding: UUID.self)
    }

    public func purge(_ id: UUID, at now: Date, on connection: PostgresConnection) async throws -> Bool {
        try await connection.query("SELECT rungate_purge_org(\(id), \(now))", logger: logger).first(decoding: Bool.self) ?? false
    }
}
