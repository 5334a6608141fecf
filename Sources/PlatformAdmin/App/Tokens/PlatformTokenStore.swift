import Common
import Foundation
import Logging
import PostgresNIO

/// Issues `rg_platform_` tokens. Only the SHA-256 is stored; the value is returned once.
public struct PlatformTokenStore: Sendable {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public struct Issued: Sendable {
        public let id: UUID
        public let token: Token
    }

    /// Creates a token and records who created it in `platform_audit_log`.
    public func create(name: String, createdBy: String, origin: String, expiresAt: Date? = nil) async throws -> Issued {
        let token = Token.generate(.platform)
        let id = UUID()
        try await database.transaction { connection in
            try await connection.query(
                """
                INSERT INTO platform_tokens (id, name, token_hash, display_prefix, created_by, expires_at)
                VALUES (\(id), \(name), \(token.hash), \(token.displayPrefix), \(createdBy), \(expiresAt))
                """, logger: database.logger)
            let after: JSONValue = ["name": .string(name), "display_prefix": .string(token.displayPrefix), "created_by": .string(createdBy)]
            try await connection.query(
                """
                INSERT INTO platform_audit_log (actor_name, origin_ip, action, target_type, target_id, after)
                VALUES (\(createdBy), \(origin), 'platform_token.create', 'platform_token', \(id.uuidString), \(after.jsonb)::jsonb)
                """, logger: database.logger)
        }
        return Issued(id: id, token: token)
    }
}
