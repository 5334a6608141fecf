import Common
import Foundation
import Hummingbird
import PostgresNIO

/// Platform tokens through the API: list (metadata) and revoke. Creating one needs the platform
/// host itself (`rungate-platform create-token`), so a stolen token cannot mint others.
struct PlatformTokenRoutes: Sendable {
    let database: Database

    var routes: [PlatformRoute] {
        [
            PlatformRoute(.get, "/platform/tokens", summary: "List platform tokens (metadata only)", handler: list),
            PlatformRoute(.delete, "/platform/tokens/{token}", summary: "Revoke a platform token", handler: revoke),
        ]
    }

    struct Info: Codable, Sendable {
        let id: UUID
        let name: String
        let displayPrefix: String
        let createdBy: String
        let createdAt: Date
        let lastUsedAt: Date?
        let expiresAt: Date?
        let revokedAt: Date?
    }

    @Sendable func list(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        let tokens = try await select(nil, on: nil)
        try await call.audit("platform_tokens.list")
        return jsonResponse(.ok, ["data": .array(tokens.map(APIJSON.tree))])
    }

    @Sendable func revoke(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        let id = try context.id("token", "The platform token")
        guard let before = try await select(id, on: nil).first else { throw RungateError.notFound("The platform token") }
        guard before.revokedAt == nil else { throw RungateError(.conflict, code: "already_revoked", message: "The platform token was already revoked.") }
        try await database.transaction { connection in
            try await connection.query("UPDATE platform_tokens SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL", logger: database.logger)
            let after = try await select(id, on: connection)[0]
            try await call.audit("platform_tokens.revoke", target: "platform_token", id: id.lowercasedString,
                                 before: APIJSON.tree(before), after: APIJSON.tree(after), on: connection)
        }
        return Response(status: .noContent)
    }

    private func select(_ id: UUID?, on connection: PostgresConnection?) async throws -> [Info] {
        let query: PostgresQuery = """
            SELECT id, name, display_prefix, created_by, created_at, last_used_at, expires_at, revoked_at FROM platform_tokens
            WHERE \(id)::uuid IS NULL OR id = \(id) ORDER BY created_at DESC, id
            """
        return try await database.query(query, on: connection) { try await $0.allRows(decoding: (UUID, String, String, String, Date, Date?, Date?, Date?).self) }
            .map(Info.init)
    }
}
