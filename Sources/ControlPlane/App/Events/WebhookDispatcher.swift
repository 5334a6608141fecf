import AsyncHTTPClient
import Common
import Foundation
import Logging
import Metrics
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// Delivers the event outbox to webhook receivers. Any number of control-plane replicas run one:
/// events are fanned out to the matching subscriptions (`rungate_fan_out_events`), and due
/// deliveries are claimed with `FOR UPDATE SKIP LOCKED` and a lease (`rungate_claim_deliveries`),
/// only the oldest pending one per subscription — so each receiver gets its events in order, and a
/// receiver that is down or slow holds up no other. Each attempt is signed
/// (`X-Rungate-Signature`, both secrets during a rotation's grace window), refused if the URL now
/// resolves to a private address (unless the deployment allows them), never follows a redirect,
/// and is retried with backoff and jitter until it succeeds or is given up (24 h by default).
public struct WebhookDispatcher: Service {
    let database: Database
    let dataKeys: any DataKeyRepository
    let outboundURLs: OutboundURLPolicy
    let settings: WebhookDeliverySettings
    let publicURL: String
    let logger: Logger

    public init(configuration: ControlPlaneConfiguration, database: Database, dataKeys: any DataKeyRepository, logger: Logger) {
        self.database = database
        self.dataKeys = dataKeys
        self.outboundURLs = OutboundURLPolicy(allowPrivate: configuration.allowPrivateURLs)
        self.settings = configuration.webhooks
        self.publicURL = configuration.publicURL
        self.logger = logger
    }

    /// A delivery a worker holds the lease of.
    struct Claimed: Sendable {
        let id: UUID
        let orgID: UUID
        let webhookID: UUID
        let attempt: Int
        let queuedAt: Date
        let eventID: Int64
        let eventType: String
        let payload: String
        let eventCreatedAt: Date
        let url: String
        let dataKeyID: UUID
        let secret: ByteBuffer
        let previousSecret: ByteBuffer?
        let previousSecretExpiresAt: Date?
    }

    /// What one attempt came to.
    struct Outcome: Sendable {
        let succeeded: Bool
        let statusCode: Int?
        let error: String?
    }

    public func run() async throws {
        let client = OutboundHTTPClient(readTimeout: .seconds(settings.requestTimeout.components.seconds), retryingConnections: false)
        // After a pass that attempted deliveries, more may be due: go on at once.
        await repeatUntilShutdown(every: settings.pollInterval, deadline: settings.requestTimeout + .seconds(10), logger: logger, failure: "webhook delivery pass failed") {
            try await runOnce(client: client.client) > 0
        }
        try await client.client.shutdown()
    }

    /// One pass: fan new events out, then attempt every due delivery (at most one batch).
    /// Returns the number of deliveries attempted.
    @discardableResult
    public func runOnce(client: HTTPClient) async throws -> Int {
        try await database.client.query("SELECT rungate_fan_out_events(\(500)::integer)", logger: logger)
        let leaseSeconds = Int(settings.requestTimeout.components.seconds) * 3 + 30
        let claimed = try await database.client.query(
            "SELECT * FROM rungate_claim_deliveries(\(settings.batchSize)::integer, \(leaseSeconds)::integer)", logger: logger
        ).allRows(decoding: (UUID, UUID, UUID, Int, Date, Int64, String, String, Date, String, UUID, ByteBuffer, ByteBuffer?, Date?).self)
            .map(Claimed.init)
        let pending = try await database.client.query("SELECT rungate_pending_deliveries()", logger: logger).first(decoding: Int64.self) ?? 0
        Gauge(label: "rungate_webhook_deliveries_pending").record(pending)
        guard !claimed.isEmpty else { return 0 }
        await withTaskGroup(of: Void.self) { group in
            for delivery in claimed {
                group.addTask { await deliver(delivery, client: client) }
            }
        }
        return claimed.count
    }

    private func deliver(_ delivery: Claimed, client: HTTPClient) async {
        let outcome: Outcome
        do {
            outcome = try await attempt(delivery, client: client)
        } catch {
            outcome = Outcome(succeeded: false, statusCode: nil, error: "could not prepare the delivery: \(type(of: error))")
            logger.error("preparing a webhook delivery failed", metadata: ["delivery_id": "\(delivery.id)", "error": "\(String(reflecting: error))"])
        }
        let now = Date()
        var status = outcome.succeeded ? "succeeded" : "pending"
        var next: Date?
        if !outcome.succeeded {
            next = DeliveryRetry(settings).nextAttempt(after: delivery.attempt, queuedAt: delivery.queuedAt, now: now)
            if next == nil { status = "failed" }
        }
        Counter(label: "rungate_webhook_attempts_total", dimensions: [("outcome", outcome.succeeded ? "succeeded" : next == nil ? "failed" : "retry")]).increment()
        do {
            try await database.client.query(
                "SELECT rungate_finish_delivery(\(delivery.id), \(delivery.attempt)::integer, \(status), \(outcome.statusCode)::integer, \(outcome.error), \(next))",
                logger: logger)
        } catch {
            // The lease lapses and another attempt follows: at least once, never lost.
            logger.error("recording a webhook delivery failed", metadata: ["delivery_id": "\(delivery.id)", "error": "\(String(reflecting: error))"])
        }
    }

    /// Sends one signed attempt and says how it went (errors in words a receiver's owner can act on).
    func attempt(_ delivery: Claimed, client: HTTPClient) async throws -> Outcome {
        let (body, secrets) = try await prepare(delivery)
        do {
            _ = try await outboundURLs.check(delivery.url)
        } catch {
            return Outcome(succeeded: false, statusCode: nil, error: "refused: \(error.reason)")
        }
        let timestamp = Int(Date().timeIntervalSince1970)
        var request = HTTPClientRequest(url: delivery.url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "user-agent", value: "Rungate-Webhooks/1")
        request.headers.add(name: "x-rungate-event", value: delivery.eventType)
        request.headers.add(name: "x-rungate-delivery", value: delivery.id.lowercasedString)
        request.headers.add(name: "x-rungate-timestamp", value: String(timestamp))
        request.headers.add(name: "x-rungate-signature", value: WebhookSignature.header(secrets: secrets, timestamp: timestamp, body: body))
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await client.execute(request, timeout: .seconds(settings.requestTimeout.components.seconds))
            // The answer's body is not needed: read a little and drop the connection's rest.
            _ = try? await response.body.collect(upTo: 64 * 1024)
            let code = Int(response.status.code)
            if (200..<300).contains(code) { return Outcome(succeeded: true, statusCode: code, error: nil) }
            let redirect = (300..<400).contains(code) ? " (redirects are not followed: subscribe the final URL)" : ""
            return Outcome(succeeded: false, statusCode: code, error: "the receiver answered HTTP \(code)\(redirect)")
        } catch let error as HTTPClientError where [.readTimeout, .deadlineExceeded, .connectTimeout].contains(error) {
            return Outcome(succeeded: false, statusCode: nil, error: "timed out after \(settings.requestTimeout.components.seconds) s")
        } catch {
            return Outcome(succeeded: false, statusCode: nil, error: "could not connect to the receiver")
        }
    }

    /// The delivery's body (`approval.requested` gains signed decision links for each approver)
    /// and the secrets to sign it with: the current one, and the previous one during its grace window.
    private func prepare(_ delivery: Claimed) async throws -> (body: [UInt8], secrets: [String]) {
        try await database.withOrg(delivery.orgID) { connection in
            guard let key = try await dataKeys.key(id: delivery.dataKeyID, orgID: delivery.orgID, on: connection) else {
                throw RungateError(.internalServerError, code: "data_key_missing", message: "The webhook's secret can no longer be decrypted.")
            }
            var secrets = [String(decoding: try key.open(Array(buffer: delivery.secret), purpose: .webhookSecret), as: UTF8.self)]
            if let previous = delivery.previousSecret, let until = delivery.previousSecretExpiresAt, until > Date() {
                secrets.append(String(decoding: try key.open(Array(buffer: previous), purpose: .webhookSecret), as: UTF8.self))
            }
            var data = JSONValue.parse(delivery.payload) ?? .object([:])
            if delivery.eventType == EventType.approvalRequested.rawValue, case .object(var object) = data,
               let approvalID = object["approval_id"]?.stringValue.flatMap(UUID.init(uuidString:)) {
                object["approvers"] = try await ApprovalLinks(publicURL: publicURL, dataKeys: dataKeys)
                    .approvers(orgID: delivery.orgID, approvalID: approvalID, on: connection)
                data = .object(object)
            }
            let body: JSONValue = [
                "id": .string("evt_\(delivery.eventID)"), "type": .string(delivery.eventType),
                "created_at": .string(delivery.eventCreatedAt.formatted(.iso8601)),
                "org_id": .string(delivery.orgID.lowercasedString), "data": data,
            ]
            return (JSONSerializer.bytes(body), secrets)
        }
    }
}

extension WebhookDispatcher.Claimed {
    init(_ row: (UUID, UUID, UUID, Int, Date, Int64, String, String, Date, String, UUID, ByteBuffer, ByteBuffer?, Date?)) {
        self.init(id: row.0, orgID: row.1, webhookID: row.2, attempt: row.3, queuedAt: row.4, eventID: row.5, eventType: row.6,
                  payload: row.7, eventCreatedAt: row.8, url: row.9, dataKeyID: row.10, secret: row.11, previousSecret: row.12,
                  previousSecretExpiresAt: row.13)
    }
}
