import Common
import PostgresNIO
import TestSupport

extension OrgFixture {
    /// A fresh database holding one org fixture, with a client as its owner (to arrange and read
    /// rows) and the database as the data plane's role sees it (what the code under test uses).
    static func withDataPlaneRole(
        _ body: @escaping @Sendable (_ database: TestDatabase, _ owner: PostgresClient, _ fixture: OrgFixture, _ data: Database) async throws -> Void
    ) async throws {
        try await TestDatabase.with { database in
            try await withPostgresClient(url: database.ownerURL) { owner in
                let fixture = try await OrgFixture.create(on: owner)
                try await withPostgresClient(url: try database.url(role: "rungate_data")) { data in
                    try await body(database, owner, fixture, Database(client: data, logger: TestServers.logger))
                }
            }
        }
    }
}
