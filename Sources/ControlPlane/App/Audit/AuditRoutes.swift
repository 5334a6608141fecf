import Common
import Foundation
import Hummingbird

/// `GET /api/orgs/{org}/audit-log`: newest first, filtered, paginated by an opaque cursor.
struct AuditRoutes: RouteCollection {
    let services: ControlPlaneServices

    var routes: [APIRoute] {
        [APIRoute(.get, "/api/orgs/{org}/audit-log", access: .org(.auditRead),
                  summary: "The org's audit log; filters: action, actor_id, target_type, target_id, since, until; limit (1-200), cursor",
                  handler: list)]
    }

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let query = request.uri.queryParameters
        func text(_ name: String) -> String? { query[Substring(name)].map(String.init).flatMap { $0.isEmpty ? nil : $0 } }
        func date(_ name: String) throws -> Date? {
            guard let value = text(name) else { return nil }
            guard let date = ISO8601DateFormatter().date(from: value) else {
                throw RungateError.badRequest("`\(name)` must be an ISO-8601 time such as 2026-01-31T12:00:00Z.")
            }
            return date
        }
        let limit = try text("limit").map { value -> Int in
            guard let limit = Int(value), (1...200).contains(limit) else { throw RungateError.badRequest("`limit` must be between 1 and 200.") }
            return limit
        } ?? 50
        let cursor = try text("cursor").map { value -> Int64 in
            guard let data = Data(base64Encoded: value), let text = String(data: data, encoding: .utf8), let id = Int64(text.dropFirst(2)), text.hasPrefix("a:") else {
                throw RungateError.badRequest("`cursor` is not a cursor this API returned.", recovery: "Pass `next_cursor` from the previous page unchanged.")
            }
            return id
        }
        let filter = AuditFilter(action: text("action"), actorID: text("actor_id"), targetType: text("target_type"), targetID: text("target_id"),
                                 since: try date("since"), until: try date("until"), before: cursor, limit: limit + 1)
        let entries = try await services.inOrg(request, context) { tx in try await services.audit.list(filter, on: tx.connection) }
        let page = Array(entries.prefix(limit))
        let next = entries.count > limit ? page.last.map { Data("a:\($0.id)".utf8).base64EncodedString() } : nil
        return try APIJSON.response(.ok, ListResponse(page, nextCursor: next))
    }
}
