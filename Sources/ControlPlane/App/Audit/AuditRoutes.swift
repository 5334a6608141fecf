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
        let query = ListQuery(request)
        let limit = try query.limit()
        let cursor = try query.cursor().map { text -> Int64 in
            guard text.hasPrefix("a:"), let id = Int64(text.dropFirst(2)) else { throw ListQuery.badCursor }
            return id
        }
        let filter = AuditFilter(action: query.text("action"), actorID: query.text("actor_id"), targetType: query.text("target_type"),
                                 targetID: query.text("target_id"), since: try query.date("since"), until: try query.date("until"),
                                 before: cursor, limit: limit + 1)
        let entries = try await services.inOrg(request, context) { tx in try await services.audit.list(filter, on: tx.connection) }
        let page = Array(entries.prefix(limit))
        let next = entries.count > limit ? page.last.map { ListQuery.encodeCursor("a:\($0.id)") } : nil
        return try APIJSON.response(.ok, ListResponse(page, nextCursor: next))
    }
}
