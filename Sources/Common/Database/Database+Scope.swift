import Foundation
import PostgresNIO

extension Database {
    /// Runs `body` in a transaction scoped to one org: row-level security (migration 0004) then shows
    /// the control plane's role only that org's rows and refuses writes to any other org's.
    public func withOrg<Result: Sendable>(
        _ orgID: UUID, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction { connection in
            // Transaction-local (`true`), so the pooled connection forgets it at COMMIT or ROLLBACK.
            try await connection.query("SELECT set_config('rungate.org_id', \(orgID.uuidString), true)", logger: logger)
            return try await body(connection)
        }
    }

    /// Runs `body` in a transaction that may see the user's own memberships and their orgs (and no
    /// other org data): for "which orgs am I in".
    public func withUser<Result: Sendable>(
        _ userID: UUID, _ body: @escaping @Sendable (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await transaction { connection in
            try await connection.query("SELECT set_config('rungate.user_id', \(userID.uuidString), true)", logger: logger)
            return try await body(connection)
        }
    }
}
