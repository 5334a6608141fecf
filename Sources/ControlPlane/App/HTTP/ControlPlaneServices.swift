import Common
import Foundation
import Hummingbird
import Logging
import PostgresNIO

/// What the control plane's routes share: repositories, password hashing, throttles, settings.
public struct ControlPlaneServices: Sendable {
    public let database: Database
    public let users: any UserRepository
    public let orgs: any OrgRepository
    public let members: any MemberRepository
    public let teams: any TeamRepository
    public let adminTokens: any AdminTokenRepository
    public let audit: any AuditLogRepository
    public let dataKeys: any DataKeyRepository
    public let passwords: Passwords
    public let loginThrottle: LoginThrottle
    public let configuration: ControlPlaneConfiguration

    /// Runs `body` in a transaction scoped to the request's org, with an audit recorder for the caller.
    func inOrg<Result: Sendable>(
        _ request: Request, _ context: ControlRequestContext, _ body: (OrgTransaction) async throws -> Result
    ) async throws -> Result {
        let access = try context.requireOrg()
        let actor = AuditActor(try context.requireIdentity(), origin: context.origin(request))
        return try await database.withOrg(access.orgID) { connection in
            try await body(OrgTransaction(connection: connection, access: access, actor: actor, audit: audit, logger: database.logger))
        }
    }
}

/// One org-scoped transaction of a request: its connection, the caller's access, and the audit log.
struct OrgTransaction {
    let connection: PostgresConnection
    let access: OrgAccess
    let actor: AuditActor
    let audit: any AuditLogRepository
    let logger: Logger

    var orgID: UUID { access.orgID }

    /// Records `event` in the same transaction as the change it describes.
    func record(_ event: AuditEvent) async throws {
        try await audit.record(event, orgID: access.orgID, actor: actor, on: connection)
    }

    /// Tells every data plane to drop what it cached; delivered when the transaction commits.
    func notify(_ invalidation: Invalidation) async throws {
        try await invalidation.publish(on: connection, logger: logger)
    }
}

extension ControlRequestContext {
    /// The UUID path parameter `name`, or a 404 naming `what` (a malformed id finds nothing).
    func id(_ name: String, _ what: String) throws -> UUID {
        guard let id = parameters.get(name).flatMap(UUID.init(uuidString:)) else { throw RungateError.notFound(what) }
        return id
    }
}
