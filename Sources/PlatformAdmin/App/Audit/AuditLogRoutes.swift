import Common
import Foundation
import Hummingbird
import PostgresNIO

/// Reading audit trails: any org's audit log (filters, cursor), and the platform's own.
struct AuditLogRoutes: Sendable {
    let database: Database

    var routes: [PlatformRoute] {
        [
            PlatformRoute(.get, "/platform/audit-log", summary: "Org audit logs across orgs (?org_id=&action=&since=&until=&limit=&cursor=)",
                          handler: orgAuditLog),
            PlatformRoute(.get, "/platform/platform-audit-log", summary: "The platform's own audit trail (?action=&limit=&cursor=)",
                          handler: platformAuditLog),
        ]
    }

    struct Filters {
        let orgID: UUID?
        let action: String?
        let since: Date?
        let until: Date?
        let before: Int64?
        let limit: Int

        init(_ request: Request) throws {
            let query = request.uri.queryParameters
            func text(_ name: String) -> String? { query[Substring(name)].map(String.init).flatMap { $0.isEmpty ? nil : $0 } }
            func date(_ name: String) throws -> Date? {
                guard let value = text(name) else { return nil }
                guard let date = ISO8601DateFormatter().date(from: value) else { throw RungateError.badRequest("`\(name)` must be an ISO-8601 time.") }
                return date
            }
            if let value = text("org_id") {
                guard let id = UUID(canonical: value) else { throw RungateError.badRequest("`org_id` must be an id.") }
                orgID = id
            } else {
                orgID = nil
            }
            action = text("action").map { String($0.unicodeScalars.filter { $0.value >= 0x20 }) }
            since = try date("since")
            until = try date("until")
            if let value = text("cursor") {
                guard let id = Int64(value), id > 0 else { throw RungateError.badRequest("`cursor` is not a cursor this API returned.") }
                before = id
            } else {
                before = nil
            }
            let limit = Int(text("limit") ?? "50") ?? 0
            guard (1...200).contains(limit) else { throw RungateError.badRequest("`limit` must be between 1 and 200.") }
            self.limit = limit
        }
    }

    @Sendable func orgAuditLog(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        let filters = try Filters(request)
        let rows = try await database.query(
            """
            SELECT id, org_id, actor_type, actor_id, origin_ip, action, target_type, target_id, before::text, after::text, created_at
            FROM org_audit_log
            WHERE (\(filters.orgID)::uuid IS NULL OR org_id = \(filters.orgID)) AND (\(filters.action)::text IS NULL OR action = \(filters.action))
              AND (\(filters.since)::timestamptz IS NULL OR created_at >= \(filters.since))
              AND (\(filters.until)::timestamptz IS NULL OR created_at < \(filters.until))
              AND (\(filters.before)::bigint IS NULL OR id < \(filters.before))
            ORDER BY id DESC LIMIT \(filters.limit + 1)
            """) { try await $0.allRows(decoding: (Int64, UUID, String, String?, String?, String, String?, String?, String?, String?, Date).self) }
        let entries: [JSONValue] = rows.prefix(filters.limit).map { row in
            ["id": .number(Double(row.0)), "org_id": .string(row.1.lowercasedString), "actor_type": .string(row.2),
             "actor_id": row.3.map { .string($0) } ?? .null, "origin_ip": row.4.map { .string($0) } ?? .null, "action": .string(row.5),
             "target_type": row.6.map { .string($0) } ?? .null, "target_id": row.7.map { .string($0) } ?? .null,
             "before": Self.parse(row.8), "after": Self.parse(row.9), "created_at": .string(row.10.formatted(.iso8601))]
        }
        try await call.audit("audit.read_org_logs", target: filters.orgID.map { _ in "org" }, id: filters.orgID?.lowercasedString)
        return jsonResponse(.ok, ["data": .array(entries), "next_cursor": rows.count > filters.limit ? .string(String(rows[filters.limit - 1].0)) : .null])
    }

    @Sendable func platformAuditLog(_ request: Request, _ context: PlatformRequestContext, _ call: PlatformCall) async throws -> Response {
        let filters = try Filters(request)
        let rows = try await database.query(
            """
            SELECT id, actor_token_id, actor_name, origin_ip, action, target_type, target_id, before::text, after::text, created_at
            FROM platform_audit_log
            WHERE (\(filters.action)::text IS NULL OR action = \(filters.action)) AND (\(filters.before)::bigint IS NULL OR id < \(filters.before))
              AND (\(filters.since)::timestamptz IS NULL OR created_at >= \(filters.since))
              AND (\(filters.until)::timestamptz IS NULL OR created_at < \(filters.until))
            ORDER BY id DESC LIMIT \(filters.limit + 1)
            """) { try await $0.allRows(decoding: (Int64, UUID?, String?, String?, String, String?, String?, String?, String?, Date).self) }
        let entries: [JSONValue] = rows.prefix(filters.limit).map { row in
            ["id": .number(Double(row.0)), "actor_token_id": row.1.map { .string($0.lowercasedString) } ?? .null,
             "actor_name": row.2.map { .string($0) } ?? .null, "origin_ip": row.3.map { .string($0) } ?? .null, "action": .string(row.4),
             "target_type": row.5.map { .string($0) } ?? .null, "target_id": row.6.map { .string($0) } ?? .null,
             "before": Self.parse(row.7), "after": Self.parse(row.8), "created_at": .string(row.9.formatted(.iso8601))]
        }
        try await call.audit("audit.read_platform_log")
        return jsonResponse(.ok, ["data": .array(entries), "next_cursor": rows.count > filters.limit ? .string(String(rows[filters.limit - 1].0)) : .null])
    }

    static func parse(_ text: String?) -> JSONValue {
        text.flatMap(JSONValue.parse) ?? .null
    }
}
