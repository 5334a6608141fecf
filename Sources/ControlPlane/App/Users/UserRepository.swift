import Common
import Foundation
import PostgresNIO

/// A user as the API shows them.
public struct User: Codable, Sendable, Equatable {
    public let id: UUID
    public let email: String
    public let displayName: String?
    public let createdAt: Date
}

/// Users and their sessions. Users are not org-owned (one person may belong to many orgs).
public protocol UserRepository: Sendable {
    func create(email: String, displayName: String?, passwordHash: String) async throws -> User?
    /// The user and password hash for a login; disabled users are not returned.
    func credentials(email: String) async throws -> (user: User, passwordHash: String)?
    func user(id: UUID) async throws -> User?
    func createSession(userID: UUID, tokenHash: String, expiresAt: Date, origin: Origin) async throws -> UUID
    /// The live session's user, by token hash.
    func session(tokenHash: String) async throws -> (sessionID: UUID, user: User)?
    func revokeSession(id: UUID) async throws
}

public struct PostgresUserRepository: UserRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    /// Nil when the e-mail is taken.
    public func create(email: String, displayName: String?, passwordHash: String) async throws -> User? {
        try await database.query(
            """
            INSERT INTO users (email, display_name, password_hash) VALUES (\(email), \(displayName), \(passwordHash))
            ON CONFLICT (email) DO NOTHING
            RETURNING id, email, display_name, created_at
            """) { try await $0.firstRow(decoding: (UUID, String, String?, Date).self) }.map(User.init)
    }

    public func credentials(email: String) async throws -> (user: User, passwordHash: String)? {
        try await database.query(
            "SELECT id, email, display_name, created_at, password_hash FROM users WHERE email = \(email) AND disabled_at IS NULL"
        ) { try await $0.firstRow(decoding: (UUID, String, String?, Date, String).self) }
            .map { (User(id: $0, email: $1, displayName: $2, createdAt: $3), $4) }
    }

    public func user(id: UUID) async throws -> User? {
        try await database.query(
            "SELECT id, email, display_name, created_at FROM users WHERE id = \(id) AND disabled_at IS NULL"
        ) { try await $0.firstRow(decoding: (UUID, String, String?, Date).self) }.map(User.init)
    }

    public func createSession(userID: UUID, tokenHash: String, expiresAt: Date, origin: Origin) async throws -> UUID {
        try await database.query(
            """
            INSERT INTO sessions (user_id, token_hash, expires_at, origin_ip, user_agent)
            VALUES (\(userID), \(tokenHash), \(expiresAt), \(origin.ip), \(origin.userAgent)) RETURNING id
            """) { try await $0.first(decoding: UUID.self) }!
    }

    public func session(tokenHash: String) async throws -> (sessionID: UUID, user: User)? {
        try await database.query(
            """
            SELECT s.id, u.id, u.email, u.display_name, u.created_at
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.token_hash = \(tokenHash) AND s.revoked_at IS NULL AND s.expires_at > now() AND u.disabled_at IS NULL
            """) { try await $0.firstRow(decoding: (UUID, UUID, String, String?, Date).self) }.map { ($0, User(id: $1, email: $2, displayName: $3, createdAt: $4)) }
    }

    public func revokeSession(id: UUID) async throws {
        try await database.query("UPDATE sessions SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL")
    }
}
