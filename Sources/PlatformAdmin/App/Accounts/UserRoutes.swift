import Common
import Foundation
import Hummingbird
import PostgresNIO

/// Users across the deployment: find, disable (their sessions and admin tokens stop working at
/// once), enable.
struct UserRoutes: Sendable {
    let database: Database

    var routes: [PlatformRoute] {
        [
            PlatformRoute(.get, "/platform/users", summary: "Find users (?email=substring)", handler: list),
            PlatformRoute(.post, "/platform/users/{user}/disable", summary: "Disable a user: sign-in, sessions and admin tokens stop", handler: disable),
            PlatformRoute(.post, "/platform/users/{user}/enable", summary: "Enable a disabled user", handler: enable),
        ]
    }

    struct PlatformUser: Codable, Sendable {
        let id: UUID
        let email: String
        let displayName: String?
        let disabledAt: Date?
        let createdAt: Date
        let orgCount: Int
    }

    @Sendable func list(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        let email = request.uri.queryParameters["email"].map { String($0).lowercased() }
        let users = try await select(nil, email: email, on: nil)
        try await call.audit("users.list", after: ["email": email.map { .string($0) } ?? .null])
        return jsonResponse(.ok, ["data": .array(users.map(APIJSON.tree))])
    }

    @Sendable func disable(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        try await setDisabled(context, call, true)
    }

    @Sendable func enable(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        try await setDisabled(context, call, false)
    }

    private func setDisabled(_ context: PlatformRequestContext, _ call: PlatformCall, _ disabled: Bool) async throws -> Response {
        let id = try context.id("user", "The user")
        guard let before = try await select(id, email: nil, on: nil).first else { throw RungateError.notFound("The user") }
        let after = try await database.transaction { connection in
            try await connection.query(
                """
                UPDATE users SET disabled_at = CASE WHEN \(disabled) THEN COALESCE(disabled_at, now()) ELSE NULL END, updated_at = now()
                WHERE id = \(id)
                """, logger: database.logger)
            let after = try await select(id, email: nil, on: connection)[0]
            try await call.audit(disabled ? "users.disable" : "users.enable", target: "user", id: id.lowercasedString,
                                 before: APIJSON.tree(before), after: APIJSON.tree(after), on: connection)
            return after
        }
        return jsonResponse(.ok, APIJSON.tree(after))
    }

    private func select(_ id: UUID?, email: String?, on connection: PostgresConnection?) async throws -> [PlatformUser] {
        let query: PostgresQuery = """
            SELECT u.id, u.email, u.display_name, u.disabled_at, u.created_at, (SELECT count(*)::int FROM memberships m WHERE m.user_id = u.id)
            FROM users u
            WHERE (\(id)::uuid IS NULL OR u.id = \(id)) AND (\(email)::text IS NULL OR u.email LIKE '%' || \(email) || '%')
            ORDER BY u.created_at DESC, u.id LIMIT 500
            """
        return try await database.query(query, on: connection) { try await $0.allRows(decoding: (UUID, String, String?, Date?, Date, Int).self) }
            .map(PlatformUser.init)
    }
}
