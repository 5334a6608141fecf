import AsyncHTTPClient
import Common
@testable import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import PostgresNIO
import Synchronization
import TestSupport
import Testing

/// The delivery worker against a real receiver (an HTTP server on a loopback port) and the real
/// database: signed deliveries, targets refused at delivery time, redirects not followed, giving up.
@Suite struct WebhookDispatcherTests {
    /// What the receiver got: path and headers of each request, and its body.
    final class Received: Sendable {
        let requests = Mutex<[(path: String, headers: HTTPFields, body: [UInt8])]>([])
        var paths: [String] { requests.withLock { $0.map(\.path) } }
    }

    static func receiver(_ received: Received) -> some ApplicationProtocol {
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 1 << 20)
            received.requests.withLock { $0.append(("/hook", request.headers, Array(buffer: body))) }
            return .ok
        }
        router.post("/redirect") { _, _ -> Response in
            received.requests.withLock { $0.append(("/redirect", [:], [])) }
            return Response(status: .found, headers: [.location: "/hook"])
        }
        router.post("/fail") { _, _ -> HTTPResponse.Status in
            received.requests.withLock { $0.append(("/fail", [:], [])) }
            return .internalServerError
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    /// An org (with its data key), a receiver, and a dispatcher connected as the control plane's role.
    static func with(
        allowPrivate: Bool, giveUpAfter: Duration = .seconds(3600),
        _ body: @escaping @Sendable (_ dispatcher: WebhookDispatcher, _ http: HTTPClient, _ port: Int, _ fixture: OrgFixture,
                                     _ owner: PostgresClient, _ received: Received) async throws -> Void
    ) async throws {
        let keyring = MasterKeyring.random()
        let received = Received()
        try await TestDatabase.with { database in
            try await withPostgresClient(url: database.ownerURL) { owner in
                let fixture = try await OrgFixture.create(on: owner, keyring: keyring)
                try await withPostgresClient(url: try database.url(role: "rungate_control")) { control in
                    var configuration = TestApps.controlPlaneConfiguration(keyring: keyring)
                    configuration.allowPrivateURLs = allowPrivate
                    configuration.webhooks = .init(requestTimeout: .seconds(2), retryBase: .milliseconds(100), giveUpAfter: giveUpAfter)
                    let dataKeys = PostgresDataKeyRepository(database: Database(client: control, logger: TestServers.logger), keyring: keyring)
                    let dispatcher = WebhookDispatcher(configuration: configuration, database: Database(client: control, logger: TestServers.logger),
                                                       dataKeys: dataKeys, logger: TestServers.logger)
                    let http = OutboundHTTPClient(readTimeout: .seconds(2), retryingConnections: false)
                    try await Self.receiver(received).test(.live) { client in
                        try await body(dispatcher, http.client, client.port!, fixture, owner, received)
                    }
                    try await http.client.shutdown()
                }
            }
        }
    }

    /// Subscribes `url` to `token.revoked` with `secret` and queues one such event; returns the webhook id.
    static func subscribe(_ url: String, secret: String, fixture: OrgFixture, keyring: MasterKeyring, on owner: PostgresClient) async throws -> UUID {
        let key = try #require(try await PostgresDataKeyRepository(database: Database(client: owner, logger: TestServers.logger), keyring: keyring)
            .active(orgID: fixture.orgID))
        let sealed = ByteBuffer(bytes: try key.seal(Array(secret.utf8), purpose: .webhookSecret))
        let id = try await owner.query(
            """
            INSERT INTO webhooks (org_id, url, events, data_key_id, secret_ciphertext)
            VALUES (\(fixture.orgID), \(url), '{token.revoked}', \(key.id), \(sealed)) RETURNING id
            """, logger: TestServers.logger
        ).first(decoding: UUID.self)!
        try await owner.query("INSERT INTO events (org_id, type, payload) VALUES (\(fixture.orgID), 'token.revoked', '{\"token_id\": \"t\"}'::jsonb)",
                              logger: TestServers.logger)
        return id
    }

    static func delivery(of webhook: UUID, on owner: PostgresClient) async throws -> (status: String, attempts: Int, code: Int?, error: String?) {
        try #require(try await owner.query(
            "SELECT status, attempts, last_status_code, last_error FROM webhook_deliveries WHERE webhook_id = \(webhook)", logger: TestServers.logger
        ).firstRow(decoding: (String, Int, Int?, String?).self))
    }

    @Test func aDeliveryIsSignedAndRecordedAsSucceeded() async throws {
        try await Self.with(allowPrivate: true) { dispatcher, http, port, fixture, owner, received in
            let webhook = try await Self.subscribe("http://127.0.0.1:\(port)/hook", secret: "whsec_dispatch-test", fixture: fixture,
                                                   keyring: fixture.resources.keyring, on: owner)
            #expect(try await dispatcher.runOnce(client: http) == 1)
            let (_, headers, body) = try #require(received.requests.withLock { $0.first })
            #expect(headers[HTTPField.Name("x-rungate-event")!] == "token.revoked")
            let timestamp = try #require(headers[HTTPField.Name("x-rungate-timestamp")!].flatMap(Int.init))
            let signature = try #require(headers[HTTPField.Name("x-rungate-signature")!])
            #expect(WebhookSignature.verify(header: signature, secret: "whsec_dispatch-test", timestamp: timestamp, body: body))
            #expect(!WebhookSignature.verify(header: signature, secret: "whsec_other", timestamp: timestamp, body: body))
            let event = try #require(JSONValue.parse(String(decoding: body, as: UTF8.self)))
            #expect(event["type"] == "token.revoked" && event["data"]?["token_id"] == "t")
            let state = try await Self.delivery(of: webhook, on: owner)
            #expect(state.status == "succeeded" && state.attempts == 1 && state.code == 200)
            #expect(try await dispatcher.runOnce(client: http) == 0, "nothing is delivered twice")
        }
    }

    @Test func aPrivateTargetIsRefusedAtDeliveryUnlessAllowed() async throws {
        try await Self.with(allowPrivate: false) { dispatcher, http, port, fixture, owner, received in
            let webhook = try await Self.subscribe("http://127.0.0.1:\(port)/hook", secret: "whsec_x", fixture: fixture,
                                                   keyring: fixture.resources.keyring, on: owner)
            try await dispatcher.runOnce(client: http)
            let state = try await Self.delivery(of: webhook, on: owner)
            #expect(state.status == "pending" && state.attempts == 1 && state.error?.hasPrefix("refused:") == true)
            #expect(received.paths.isEmpty, "no byte reached the private address")
        }
    }

    @Test func redirectsAreNotFollowed() async throws {
        try await Self.with(allowPrivate: true) { dispatcher, http, port, fixture, owner, received in
            let webhook = try await Self.subscribe("http://127.0.0.1:\(port)/redirect", secret: "whsec_x", fixture: fixture,
                                                   keyring: fixture.resources.keyring, on: owner)
            try await dispatcher.runOnce(client: http)
            let state = try await Self.delivery(of: webhook, on: owner)
            #expect(state.status == "pending" && state.code == 302 && state.error?.contains("redirects are not followed") == true)
            #expect(received.paths == ["/redirect"])
        }
    }

    @Test func aDeliveryPastItsRetryWindowIsMarkedFailed() async throws {
        try await Self.with(allowPrivate: true, giveUpAfter: .zero) { dispatcher, http, port, fixture, owner, received in
            let webhook = try await Self.subscribe("http://127.0.0.1:\(port)/fail", secret: "whsec_x", fixture: fixture,
                                                   keyring: fixture.resources.keyring, on: owner)
            try await dispatcher.runOnce(client: http)
            let state = try await Self.delivery(of: webhook, on: owner)
            #expect(state.status == "failed" && state.code == 500 && state.error == "the receiver answered HTTP 500")
            #expect(try await dispatcher.runOnce(client: http) == 0, "a failed delivery is not tried again by itself")
        }
    }

    @Test func retriesBackOffExponentiallyWithJitterUpToACapAndGiveUp() {
        let retry = DeliveryRetry(.init(retryBase: .seconds(10), retryCap: .seconds(3600), giveUpAfter: .seconds(24 * 3600)))
        let queued = Date(timeIntervalSince1970: 1_000_000)
        func delay(_ attempt: Int, jitter: Double = 1, now: Date = queued) -> Double? {
            retry.nextAttempt(after: attempt, queuedAt: queued, now: now, jitter: jitter).map { $0.timeIntervalSince(now) }
        }
        #expect(delay(1) == 10 && delay(2) == 20 && delay(3) == 40 && delay(10) == 3600 && delay(40) == 3600)
        #expect(delay(1, jitter: 0.75) == 7.5 && delay(1, jitter: 1.25) == 12.5)
        #expect(delay(30, now: queued.addingTimeInterval(23.5 * 3600)) == nil, "the next attempt would fall past 24 hours: give up")
        #expect(delay(30, now: queued.addingTimeInterval(22 * 3600)) == 3600)
    }
}
