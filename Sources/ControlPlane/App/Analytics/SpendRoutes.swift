import Common
import Foundation
import Hummingbird
import PostgresNIO

/// Spend analytics: cost and tokens over a time range, grouped by agent, team, model or day.
struct SpendRoutes: RouteCollection {
    let services: ControlPlaneServices

    var routes: [APIRoute] {
        [APIRoute(.get, "/api/orgs/{org}/analytics/spend", access: .org(.analyticsRead),
                  summary: "Cost and tokens by agent, team, model or day (?group_by=agent|team|model|day&since=&until=; default the last 30 days)",
                  handler: spend)]
    }

    struct Row: Codable, Sendable {
        let key: String?
        let label: String?
        let steps: Int
        let inputTokens: Int64
        let outputTokens: Int64
        let costMicros: Int64
    }

    struct Answer: Encodable {
        let groupBy: String
        let since: Date
        let until: Date
        let totalCostMicros: Int64
        let data: [Row]
    }

    @Sendable func spend(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let query = ListQuery(request)
        let groupBy = query.text("group_by") ?? "day"
        guard ["agent", "team", "model", "day"].contains(groupBy) else { throw RungateError.badRequest("`group_by` must be agent, team, model or day.") }
        let until = try query.date("until") ?? Date()
        let since = try query.date("since") ?? until.addingTimeInterval(-30 * 86_400)
        guard since < until else { throw RungateError.badRequest("`since` must be before `until`.") }
        guard until.timeIntervalSince(since) <= 400 * 86_400 else { throw RungateError.badRequest("A range is at most 400 days.") }
        let rows = try await services.inOrg(request, context) { tx in
            // One grouping expression per dimension, chosen from this fixed list (never from the request's text).
            try await tx.connection.query(
                """
                SELECT CASE \(groupBy) WHEN 'agent' THEN r.agent_id::text WHEN 'team' THEN a.team_id::text
                                       WHEN 'model' THEN s.model ELSE to_char(date_trunc('day', s.created_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD') END AS key,
                       max(CASE \(groupBy) WHEN 'agent' THEN a.name WHEN 'team' THEN t.name ELSE NULL END),
                       count(*)::int, COALESCE(sum(s.input_tokens), 0)::bigint, COALESCE(sum(s.output_tokens), 0)::bigint,
                       COALESCE(sum(s.cost_micros), 0)::bigint
                FROM steps s
                JOIN runs r ON r.id = s.run_id AND r.org_id = s.org_id
                LEFT JOIN agents a ON a.id = r.agent_id
                LEFT JOIN teams t ON t.id = a.team_id
                WHERE s.org_id = rungate_current_org() AND s.created_at >= \(since) AND s.created_at < \(until)
                GROUP BY 1 ORDER BY 6 DESC, 1
                """, logger: tx.logger
            ).allRows(decoding: (String?, String?, Int, Int64, Int64, Int64).self).map(Row.init)
        }
        return try APIJSON.response(.ok, Answer(groupBy: groupBy, since: since, until: until,
                                                totalCostMicros: rows.reduce(0) { $0 + $1.costMicros }, data: rows))
    }
}
