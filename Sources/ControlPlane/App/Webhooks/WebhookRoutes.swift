import Common
import Crypto
import Foundation
import Hummingbird
import NIOCore
import PostgresNIO

/// A webhook subscription as the API shows it (never its secret).
public struct Webhook: Codable, Sendable {
    public let id: UUID
    public let url: String
    public let events: [String]
    public let description: String?
    public let active: Bool
    /// Until when deliveries are also signed with the previous secret (after a rotation).
    public let previousSecretExpiresAt: Date?
    public let createdAt: Date
    public let updatedAt: Date
}

public struct WebhookDelivery: Codable, Sendable {
    public let id: UUID
    public let webhookId: UUID
    public let eventId: Int64
    public let eventType: String
    public let status: String
    public let attempts: Int
    public let nextAttemptAt: Date
    public let lastStatusCode: Int?
    public let lastError: String?
    public let createdAt: Date
    public let deliveredAt: Date?
}

/// Webhook subscriptions: URL and events, a signing secret shown once (kept encrypted: the server
/// must sign), rotation with a grace window, delivery history, redelivery and a test event.
struct WebhookRoutes: RouteCollection {
    let services: ControlPlaneServices

    var routes: [APIRoute] {
        let events: JSONValue = Schema.array(["type": "string", "enum": .array(EventType.allCases.map { .string($0.rawValue) })])
        return [
            APIRoute(.get, "/api/orgs/{org}/webhooks", access: .org(.webhooksRead), summary: "List webhook subscriptions", handler: list),
            APIRoute(.post, "/api/orgs/{org}/webhooks", access: .org(.webhooksCreate),
                     summary: "Subscribe a URL to events (the signing secret is returned once)", success: .created,
                     body: Schema.object(["url": Schema.string, "events": events, "description": Schema.string], required: ["url", "events"]),
                     handler: create),
            APIRoute(.get, "/api/orgs/{org}/webhooks/{webhook}", access: .org(.webhooksRead), summary: "Read a webhook subscription", handler: read),
            APIRoute(.patch, "/api/orgs/{org}/webhooks/{webhook}", access: .org(.webhooksUpdate), summary: "Change URL, events, description or active",
                     body: Schema.object(["url": Schema.string, "events": events, "description": Schema.nullable(Schema.string), "active": Schema.boolean]),
                     handler: update),
            APIRoute(.delete, "/api/orgs/{org}/webhooks/{webhook}", access: .org(.webhooksDelete), summary: "Delete a webhook subscription",
                     success: .noContent, handler: delete),
            APIRoute(.post, "/api/orgs/{org}/webhooks/{webhook}/rotate-secret", access: .org(.webhooksRotateSecret),
                     summary: "New signing secret (returned once); the old one also signs for grace_seconds (default a day)",
                     body: Schema.object(["grace_seconds": Schema.integer(0, 604_800)]), handler: rotate),
            APIRoute(.get, "/api/orgs/{org}/webhooks/{webhook}/deliveries", access: .org(.webhooksRead),
                     summary: "Delivery history, newest first (?limit=)", handler: deliveries),
            APIRoute(.post, "/api/orgs/{org}/webhooks/{webhook}/deliveries/{delivery}/redeliver", access: .org(.webhooksRedeliver),
                     summary: "Queue a delivery's event again for this webhook", success: .accepted, handler: redeliver),
            APIRoute(.post, "/api/orgs/{org}/webhooks/{webhook}/test", access: .org(.webhooksTest),
                     summary: "Queue a `webhook.test` event for this webhook only", success: .accepted, handler: test),
        ]
    }

    struct CreateBody: Decodable {
        let url: String
        let events: [String]
        let description: String?
    }

    struct RotateBody: Decodable { let graceSeconds: Int? }

    struct WithSecret: Encodable {
        let webhook: Webhook
        /// `whsec_…`: sign-checking key for `X-Rungate-Signature`; shown only in this answer.
        let secret: String
    }

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        try APIJSON.response(.ok, ListResponse(try await services.inOrg(request, context) { tx in try await select(nil, tx) }))
    }

    @Sendable func read(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("webhook", "The webhook")
        return try APIJSON.response(.ok, try await services.inOrg(request, context) { tx in try await existing(id, tx) })
    }

    @Sendable func create(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let body = try await APIJSON.decode(CreateBody.self, from: request)
        let url = try await checkedURL(body.url)
        let events = try Self.validEvents(body.events)
        let secret = Self.newSecret()
        let webhook = try await services.inOrg(request, context) { tx in
            let sealed = try await seal(secret, tx)
            let id = try await tx.connection.query(
                """
                INSERT INTO webhooks (org_id, url, events, description, data_key_id, secret_ciphertext)
                VALUES (rungate_current_org(), \(url), \(events), \(body.description), \(sealed.keyID), \(sealed.ciphertext)) RETURNING id
                """, logger: tx.logger
            ).first(decoding: UUID.self)!
            let webhook = try await existing(id, tx)
            try await tx.record(AuditEvent("webhooks.create", target: "webhook", id: id, after: APIJSON.tree(webhook)))
            return webhook
        }
        return try APIJSON.response(.created, WithSecret(webhook: webhook, secret: secret), headers: [.cacheControl: "no-store"])
    }

    @Sendable func update(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("webhook", "The webhook")
        let patch = try await PatchBody.decode(from: request, allowed: ["url", "events", "description", "active"])
        var url: String?
        if case .value(let value) = try patch.string("url") { url = try await checkedURL(value) }
        var events: [String]?
        if case .value(let value) = try patch.strings("events") { events = try Self.validEvents(value) }
        let description = try patch.string("description"), active = try patch.bool("active")
        let webhook = try await services.inOrg(request, context) { [url, events] tx in
            let before = try await existing(id, tx)
            try await tx.connection.query(
                """
                UPDATE webhooks SET url = \(url ?? before.url), events = \(events ?? before.events),
                    description = \(description.applied(to: before.description)), active = \(active.applied(to: before.active) ?? before.active),
                    updated_at = now()
                WHERE org_id = rungate_current_org() AND id = \(id)
                """, logger: tx.logger)
            let after = try await existing(id, tx)
            try await tx.record(AuditEvent("webhooks.update", target: "webhook", id: id, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            return after
        }
        return try APIJSON.response(.ok, webhook)
    }

    @Sendable func delete(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("webhook", "The webhook")
        return try await services.deleteAudited(request, context, action: "webhooks.delete", target: "webhook", id: id,
                                                find: { tx in try await existing(id, tx) }) { tx, _ in
            try await tx.connection.query("DELETE FROM webhooks WHERE org_id = rungate_current_org() AND id = \(id)", logger: tx.logger)
        }
    }

    @Sendable func rotate(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("webhook", "The webhook")
        let grace = try await APIJSON.decode(RotateBody.self, from: request).graceSeconds ?? 86_400
        guard (0...604_800).contains(grace) else { throw RungateError.invalidField("grace_seconds", "must be between 0 and 604800") }
        let secret = Self.newSecret()
        let webhook = try await services.inOrg(request, context) { tx in
            let before = try await existing(id, tx)
            // The current secret becomes the previous one; both are (re)sealed under the org's active data key.
            let (storedKeyID, current) = try await tx.connection.query(
                "SELECT data_key_id, secret_ciphertext FROM webhooks WHERE org_id = rungate_current_org() AND id = \(id) FOR UPDATE",
                logger: tx.logger
            ).firstRow(decoding: (UUID, ByteBuffer).self)!
            guard let storedKey = try await services.dataKeys.key(id: storedKeyID, orgID: tx.orgID, on: tx.connection) else {
                throw RungateError(.internalServerError, code: "data_key_missing", message: "The webhook's secret can no longer be decrypted.")
            }
            let previous = String(decoding: try storedKey.open(Array(buffer: current), purpose: .webhookSecret), as: UTF8.self)
            let sealed = try await seal(secret, tx)
            let sealedPrevious = grace > 0 ? try await seal(previous, tx).ciphertext : nil
            try await tx.connection.query(
                """
                UPDATE webhooks SET data_key_id = \(sealed.keyID), secret_ciphertext = \(sealed.ciphertext),
                    previous_secret_ciphertext = \(sealedPrevious),
                    previous_secret_expires_at = CASE WHEN \(grace) > 0 THEN now() + make_interval(secs => \(grace)) ELSE NULL END,
                    updated_at = now()
                WHERE org_id = rungate_current_org() AND id = \(id)
                """, logger: tx.logger)
            let after = try await existing(id, tx)
            try await tx.record(AuditEvent("webhooks.rotate_secret", target: "webhook", id: id, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            return after
        }
        return try APIJSON.response(.ok, WithSecret(webhook: webhook, secret: secret), headers: [.cacheControl: "no-store"])
    }

    @Sendable func deliveries(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("webhook", "The webhook")
        let limit = try ListQuery(request).limit()
        let list = try await services.inOrg(request, context) { tx in
            _ = try await existing(id, tx)
            return try await selectDeliveries(webhookID: id, deliveryID: nil, limit: limit, tx)
        }
        return try APIJSON.response(.ok, ListResponse(list))
    }

    @Sendable func redeliver(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let webhookID = try context.id("webhook", "The webhook")
        let deliveryID = try context.id("delivery", "The delivery")
        let delivery = try await services.inOrg(request, context) { tx in
            guard let original = try await selectDeliveries(webhookID: webhookID, deliveryID: deliveryID, limit: 1, tx).first else {
                throw RungateError.notFound("The delivery")
            }
            let delivery = try await queue(eventID: original.eventId, webhookID: webhookID, tx)
            try await tx.record(AuditEvent("webhooks.redeliver", target: "webhook_delivery", id: delivery.id,
                                           before: APIJSON.tree(original), after: APIJSON.tree(delivery)))
            return delivery
        }
        return try APIJSON.response(.accepted, delivery)
    }

    @Sendable func test(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let webhookID = try context.id("webhook", "The webhook")
        let delivery = try await services.inOrg(request, context) { tx in
            _ = try await existing(webhookID, tx)
            // Marked dispatched at once: the outbox must not fan a test out to other webhooks.
            let payload: JSONValue = ["webhook_id": .string(webhookID.lowercasedString)]
            let eventID = try await tx.connection.query(
                """
                INSERT INTO events (org_id, type, payload, dispatched_at)
                VALUES (rungate_current_org(), \(EventType.test), \(payload.jsonb)::jsonb, now())
                RETURNING id
                """, logger: tx.logger
            ).first(decoding: Int64.self)!
            let delivery = try await queue(eventID: eventID, webhookID: webhookID, tx)
            try await tx.record(AuditEvent("webhooks.test", target: "webhook_delivery", id: delivery.id, after: APIJSON.tree(delivery)))
            return delivery
        }
        return try APIJSON.response(.accepted, delivery)
    }

    private func queue(eventID: Int64, webhookID: UUID, _ tx: OrgTransaction) async throws -> WebhookDelivery {
        let id = try await tx.connection.query(
            "INSERT INTO webhook_deliveries (org_id, webhook_id, event_id) VALUES (rungate_current_org(), \(webhookID), \(eventID)) RETURNING id",
            logger: tx.logger
        ).first(decoding: UUID.self)!
        return try await selectDeliveries(webhookID: webhookID, deliveryID: id, limit: 1, tx)[0]
    }

    private func selectDeliveries(webhookID: UUID, deliveryID: UUID?, limit: Int, _ tx: OrgTransaction) async throws -> [WebhookDelivery] {
        try await tx.connection.query(
            """
            SELECT d.id, d.webhook_id, d.event_id, e.type, d.status, d.attempts, d.next_attempt_at, d.last_status_code, d.last_error,
                   d.created_at, d.delivered_at
            FROM webhook_deliveries d JOIN events e ON e.id = d.event_id
            WHERE d.org_id = rungate_current_org() AND d.webhook_id = \(webhookID) AND (\(deliveryID)::uuid IS NULL OR d.id = \(deliveryID))
            ORDER BY d.created_at DESC, d.id LIMIT \(limit)
            """, logger: tx.logger
        ).allRows(decoding: (UUID, UUID, Int64, String, String, Int, Date, Int?, String?, Date, Date?).self).map(WebhookDelivery.init)
    }

    private func select(_ id: UUID?, _ tx: OrgTransaction) async throws -> [Webhook] {
        try await tx.connection.query(
            """
            SELECT id, url, events, description, active, previous_secret_expires_at, created_at, updated_at FROM webhooks
            WHERE org_id = rungate_current_org() AND (\(id)::uuid IS NULL OR id = \(id)) ORDER BY created_at, id
            """, logger: tx.logger
        ).allRows(decoding: (UUID, String, [String], String?, Bool, Date?, Date, Date).self).map(Webhook.init)
    }

    private func existing(_ id: UUID, _ tx: OrgTransaction) async throws -> Webhook {
        guard let webhook = try await select(id, tx).first else { throw RungateError.notFound("The webhook") }
        return webhook
    }

    private func seal(_ secret: String, _ tx: OrgTransaction) async throws -> (keyID: UUID, ciphertext: ByteBuffer) {
        guard let key = try await services.dataKeys.active(orgID: tx.orgID, on: tx.connection) else {
            throw RungateError(.internalServerError, code: "data_key_missing", message: "The organisation has no data key to encrypt with.")
        }
        return (key.id, ByteBuffer(bytes: try key.seal(Array(secret.utf8), purpose: .webhookSecret)))
    }

    private func checkedURL(_ url: String) async throws -> String {
        do {
            return try await services.outboundURLs.check(url)
        } catch {
            throw RungateError.invalidField("url", error.reason, recovery: "Use a public http(s) endpoint of yours.")
        }
    }

    static func validEvents(_ events: [String]) throws -> [String] {
        guard !events.isEmpty else { throw RungateError.invalidField("events", "must name at least one event") }
        if let unknown = events.first(where: { EventType(rawValue: $0) == nil }) {
            throw RungateError.invalidField("events", "holds `\(unknown)`, which is not an event",
                                            recovery: "Events: \(EventType.allCases.map(\.rawValue).joined(separator: ", ")).")
        }
        return Array(Set(events)).sorted()
    }

    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
    }
}
