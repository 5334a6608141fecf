import Common
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO

/// One platform endpoint. Every one needs a platform token, and every call — read or write — is
/// written to `platform_audit_log` (writes in the same transaction as the change).
public struct PlatformRoute: Sendable {
    public typealias Handler = @Sendable (Request, PlatformRequestContext, PlatformCall) async throws -> Response

    public let method: HTTPRequest.Method
    public let path: String
    public let summary: String
    public let handler: Handler

    public init(_ method: HTTPRequest.Method, _ path: String, summary: String, handler: @escaping Handler) {
        self.method = method
        self.path = path
        self.summary = summary
        self.handler = handler
    }
}

/// What a platform handler gets: the database, and the audit trail bound to the caller.
public struct PlatformCall: Sendable {
    public let database: Database
    public let principal: PlatformPrincipal
    public let origin: (ip: String?, userAgent: String?)

    /// Records an action; pass the connection of the transaction that made the change, if any.
    public func audit(
        _ action: String, target: String? = nil, id: String? = nil, before: JSONValue? = nil, after: JSONValue? = nil,
        on connection: PostgresConnection? = nil
    ) async throws {
        let query: PostgresQuery = """
            INSERT INTO platform_audit_log (actor_token_id, actor_name, origin_ip, user_agent, action, target_type, target_id, before, after)
            VALUES (\(principal.tokenID), \(principal.name), \(origin.ip), \(origin.userAgent), \(action), \(target), \(id),
                    \(before?.jsonb)::jsonb, \(after?.jsonb)::jsonb)
            """
        try await database.query(query, on: connection)
    }
}

extension PlatformRequestContext {
    /// The UUID path parameter `name`, or a 404 naming `what`.
    func id(_ name: String, _ what: String) throws -> UUID {
        guard let id = parameters.get(name).flatMap(UUID.init(uuidString:)) else { throw RungateError.notFound(what) }
        return id
    }
}
