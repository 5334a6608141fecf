import Common
import Foundation
import Logging
import PostgresNIO

/// One write, as the org audit log records it.
public struct AuditEvent: Sendable {
    public var action: String
    public var targetType: String
    public var targetID: String
    public var before: JSONValue?
    public var after: JSONValue?

    public init(_ action: String, target: String, id: String, before: JSONValue? = nil, after: JSONValue? = nil) {
        self.action = action
        self.targetType = target
        self.targetID = id
        self.before = before
        self.after = after
    }

    public init(_ action: String, target: String, id: UUID, before: JSONValue? = nil, after: JSONValue? = nil) {
        self.init(action, target: target, id: id.lowercasedString, before: before, after: after)
    }
}

/// Who did it and from where.
public struct AuditActor: Sendable {
    public let type: String
    public let id: String?
    public let origin: Origin

    public init(type: String, id: String?, origin: Origin) {
        self.type = type
        self.id = id
        self.origin = origin
    }

    public init(_ identity: Identity, origin: Origin) {
        self.init(type: identity.auditActor.type, id: identity.auditActor.id, origin: origin)
    }
}

/// An entry as `GET /api/orgs/{org}/audit-log` returns it.
public struct AuditEntry: Codable, Sendable {
    public let id: Int64
    public let actorType: String
    public let actorId: String?
    public let originIp: String?
    public let userAgent: String?
    public let action: String
    public let targetType: String?
    public let targetId: String?
    public let before: JSONValue?
    public let after: JSONValue?
    public let createdAt: Date
}

public struct AuditFilter: Sendable {
    public var action: String?
    public var actorID: String?
    public var targetType: String?
    public var targetID: String?
    public var since: Date?
    public var until: Date?
    /// Entries older than this id (the cursor).
    public var before: Int64?
    public var limit: Int
}

/// The org audit log: written in the same transaction as the change it records, so a change
/// without its entry cannot exist; append-only for the control plane (it has no UPDATE or DELETE).
public protocol AuditLogRepository: Sendable {
    func record(_ event: AuditEvent, orgID: UUID, actor: AuditActor, on connection: PostgresConnection) async throws
    func list(_ filter: AuditFilter, on connection: PostgresConnection) async throws -> [AuditEntry]
}

public struct PostgresAuditLogRepository: AuditLogRepository {
    let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    public func record(_ event: AuditEvent, orgID: UUID, actor: AuditActor, on connection: PostgresConnection) async throws {
        let before = event.before.map(AuditRedaction.redact)
        let after = event.after.map(AuditRedaction.redact)
        try await connection.query(
            """
            INSERT INTO org_audit_log (org_id, actor_type, actor_id, origin_ip, user_agent, action, target_type, target_id, before, after)
            VALUES (\(orgID), \(actor.type), \(actor.id), \(actor.origin.ip), \(actor.origin.userAgent), \(event.action),
                    \(event.targetType), \(event.targetID), \(before?.jsonb)::jsonb, \(after?.jsonb)::jsonb)
            """, logger: logger)
    }

    /// Newest first. Each filter is optional: a NULL parameter matches everything.
    public func list(_ filter: AuditFilter, on connection: PostgresConnection) async throws -> [AuditEntry] {
        let rows = try await connection.query(
            """
            SELECT id, actor_type, actor_id, origin_ip, user_agent, action, target_type, target_id,
                   before::text, after::text, created_at
            FROM org_audit_log
            WHERE org_id = rungate_current_org()
              AND (\(filter.action)::text IS NULL OR action = \(filter.action))
              AND (\(filter.actorID)::text IS NULL OR actor_id = \(filter.actorID))
              AND (\(filter.targetType)::text IS NULL OR target_type = \(filter.targetType))
              AND (\(filter.targetID)::text IS NULL OR target_id = \(filter.targetID))
              AND (\(filter.since)::timestamptz IS NULL OR created_at >= \(filter.since))
              AND (\(filter.until)::timestamptz IS NULL OR created_at < \(filter.until))
              AND (\(filter.before)::bigint IS NULL OR id < \(filter.before))
            ORDER BY id DESC
            LIMIT \(filter.limit)
            """, logger: logger)
        return try await rows.allRows(decoding: (Int64, String, String?, String?, String?, String, String?, String?, String?, String?, Date).self)
            .map { row in
                AuditEntry(id: row.0, actorType: row.1, actorId: row.2, originIp: row.3, userAgent: row.4, action: row.5,
                           targetType: row.6, targetId: row.7, before: row.8.flatMap(JSONValue.parse), after: row.9.flatMap(JSONValue.parse),
                           createdAt: row.10)
            }
    }
}

/// Secrets never reach the audit log, even if a caller passes a structure that holds one.
public enum AuditRedaction {
    static let secretKeys: Set<String> = [
        "password", "password_hash", "token", "token_hash", "secret", "api_key", "ciphertext", "wrapped_key", "key",
    ]

    public static func redact(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let object):
            var redacted: [String: JSONValue] = [:]
            for (key, value) in object {
                redacted[key] = secretKeys.contains(key.lowercased()) ? .string("[redacted]") : redact(value)
            }
            return .object(redacted)
        case .array(let array):
            return .array(array.map(redact))
        default:
            return value
        }
    }
}
