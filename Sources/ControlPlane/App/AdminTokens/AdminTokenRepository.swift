import Common
import Foundation
import Logging
import PostgresNIO

/// An admin token's metadata (never its value or hash).
public struct AdminTokenInfo: Codable, Sendable {
    public let id: UUID
    public let name: String
    public let displayPrefix: String
    public let scopes: [String]
    public let userId: UUID
    public let createdAt: Date
    public let lastUsedAt: Date?
    public let expiresAt: Date?
    public let revokedAt: Date?
}

/// What authentication needs about a live admin token.
public struct AdminTokenPrincipal: Sendable {
    public let tokenID: UUID
    public let orgID: UUID
    public let userID: UUID
    public let email: String
    public let scopes: ScopeSet
}

public protocol AdminTokenRepository: Sendable {
    /// The live token behind a hash, in any org (a definer function: the org is not yet known).
    func principal(tokenHash: String) async throws -> AdminTokenPrincipal?
    func create(userID: UUID, name: String, token: Token, scopes: [String], expiresAt: Date?, on connection: PostgresConnection) async throws -> AdminTokenInfo
    func tokens(on connection: PostgresConnection) async throws -> [AdminTokenInfo]
    func token(_ id: UUID, on connection: PostgresConnection) async throws -> AdminTokenInfo?
    func revoke(_ id: UUID, on connection: PostgresConnection) async throws -> AdminTokenInfo?
}

public struct PostgresAdminTokenRepository: AdminTokenRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    private var logger: Logger { database.logger }
    private typealias Row = (UUID, String, String, [String], UUID, Date, Date?, Date?, Date?)

    public func principal(tokenHash: String) async throws -> AdminTokenPrincipal? {
        guard let row = try await database.query(
            """
            SELECT t.token_id, t.org_id, t.user_id, u.email, t.scopes
            FROM rungate_admin_token_by_hash(\(tokenHash)) t JOIN users u ON u.id = t.user_id
            WHERE u.disabled_at IS NULL
            """, { try await $0.firstRow(decoding: (UUID, UUID, UUID, String, [String]).self) }) else { return nil }
        // Recorded for "unused token" reviews; at most once a minute per token.
        _ = try await database.withOrg(row.1) { connection in
            try await connection.query(
                """
                UPDATE admin_tokens SET last_used_at = now()
                WHERE id = \(row.0) AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
                """, logger: logger)
        }
        return AdminTokenPrincipal(tokenID: row.0, orgID: row.1, userID: row.2, email: row.3, scopes: ScopeSet(stored: row.4))
    }

    public func create(userID: UUID, name: String, token: Token, scopes: [String], expiresAt: Date?, on connection: PostgresConnection) async throws -> AdminTokenInfo {
        try await connection.query(
            """
            INSERT INTO admin_tokens (org_id, user_id, token_hash, display_prefix, name, scopes, expires_at)
            VALUES (rungate_current_org(), \(userID), \(token.hash), \(token.displayPrefix), \(name), \(scopes), \(expiresAt))
            RETURNING id, name, display_prefix, scopes, user_id, created_at, last_used_at, expires_at, revoked_at
            """, logger: logger
        ).firstRow(decoding: Row.self).map(AdminTokenInfo.init)!
    }

    public func tokens(on connection: PostgresConnection) async throws -> [AdminTokenInfo] {
        try await connection.query(
            """
            SELECT id, name, display_prefix, scopes, user_id, created_at, last_used_at, expires_at, revoked_at
            FROM admin_tokens WHERE org_id = rungate_current_org() ORDER BY created_at DESC, id
            """, logger: logger
        ).allRows(decoding: Row.self).map(AdminTokenInfo.init)
    }

    public func token(_ id: UUID, on connection: PostgresConnection) async throws -> AdminTokenInfo? {
        try await connection.query(
            """
            SELECT id, name, display_prefix, scopes, user_id, created_at, last_used_at, expires_at, revoked_at
            FROM admin_tokens WHERE org_id = rungate_current_org() AND id = \(id)
            """, logger: logger
        ).firstRow(decoding: Row.self).map(AdminTokenInfo.init)
    }

    public func revoke(_ id: UUID, on connection: PostgresConnection) async throws -> AdminTokenInfo? {
        try await connection.query(
            """
            UPDATE admin_tokens SET revoked_at = now() WHERE org_id = rungate_current_org() AND id = \(id) AND revoked_at IS NULL
            RETURNING id, name, display_prefix, scopes, user_id, created_at, last_used_at, expires_at, revoked_at
            """, logger: logger
        ).firstRow(decoding: Row.self).map(AdminTokenInfo.init)
    }
}
