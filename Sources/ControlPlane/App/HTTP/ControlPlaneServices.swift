import Common
import Foundation
import HTTPTypes
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
    public let agents: any OrgAgentRepository
    public let policies: any PolicyRepository
    public let adminTokens: any AdminTokenRepository
    public let audit: any AuditLogRepository
    public let dataKeys: any DataKeyRepository
    public let passwords: Passwords
    public let loginThrottle: LoginThrottle
    /// Live counters shared with the data plane (budget spend); nil on a single node without Redis.
    public let redis: RedisClient?
    public let outboundURLs: OutboundURLPolicy
    public let configuration: ControlPlaneConfiguration

    /// Where the request came from: the peer address, or — behind a proxy the operator trusts
    /// (`RUNGATE_TRUST_FORWARDED_FOR`) — the last `X-Forwarded-For` entry, the address that proxy saw.
    func origin(_ request: Request, _ context: ControlRequestContext) -> Origin {
        var ip = context.remoteIP
        if configuration.trustForwardedFor, let forwarded = request.headers[.xForwardedFor],
           let last = forwarded.split(separator: ",").last?.trimmingCharacters(in: .whitespaces), !last.isEmpty {
            ip = String(last.prefix(64))
        }
        return Origin(ip: ip, userAgent: request.headers[.userAgent].map { String($0.prefix(512)) })
    }

    /// Runs `body` in a transaction scoped to the request's org, with an audit recorder for the caller.
    func inOrg<Result: Sendable>(
        _ request: Request, _ context: ControlRequestContext, _ body: @escaping @Sendable (OrgTransaction) async throws -> Result
    ) async throws -> Result {
        let access = try context.requireOrg()
        let actor = AuditActor(try context.requireIdentity(), origin: origin(request, context))
        return try await database.withOrg(access.orgID) { connection in
            try await body(OrgTransaction(connection: connection, access: access, actor: actor, audit: audit, logger: database.logger))
        }
    }
}

extension ControlPlaneServices {
    /// The shape every DELETE route shares: find the object (its own 404 or refusal), remove it,
    /// and record its last state in the audit log, in one org-scoped transaction; answers 204.
    func deleteAudited<Object: Encodable & Sendable>(
        _ request: Request, _ context: ControlRequestContext, action: String, target: String, id: UUID,
        find: @escaping @Sendable (OrgTransaction) async throws -> Object, remove: @escaping @Sendable (OrgTransaction, Object) async throws -> Void
    ) async throws -> Response {
        try await inOrg(request, context) { tx in
            let before = try await find(tx)
            try await remove(tx, before)
            try await tx.record(AuditEvent(action, target: target, id: id, before: APIJSON.tree(before)))
        }
        return Response(status: .noContent)
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

    /// Queues an event for the org's webhooks, in the same transaction as its cause (the outbox).
    func emit(_ type: String, _ payload: JSONValue) async throws {
        try await connection.query(
            "INSERT INTO events (org_id, type, payload) VALUES (rungate_current_org(), \(type), \(payload.jsonb)::jsonb)", logger: logger)
    }

    /// Tells every data plane to drop what it cached; delivered when the transaction commits.
    func notify(_ invalidation: Invalidation) async throws {
        try await invalidation.publish(on: connection, logger: logger)
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("x-forwarded-for")!
}

extension ControlRequestContext {
    /// The UUID path parameter `name`, or a 404 naming `what` (a malformed id finds nothing).
    func id(_ name: String, _ what: String) throws -> UUID {
        guard let id = parameters.get(name).flatMap(UUID.init(uuidString:)) else { throw RungateError.notFound(what) }
        return id
    }
}
