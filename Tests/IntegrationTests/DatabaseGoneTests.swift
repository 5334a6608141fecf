import Common
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import Synchronization
import Testing
import _ConnectionPoolModule
import TestSupport

/// A request whose PostgreSQL session ends under it — a fast shutdown or restart ends each one with
/// `57P01 admin_shutdown` — is answered 503 `database_unavailable` with how to recover: not 500, and
/// not never.
@Suite struct DatabaseGoneTests {
    @Test func aSessionEndedByTheServerMidRequestAnswers503() async throws {
        try await withPostgresClient(url: try TestServers.databaseURL()) { client in
            let router = Router()
            router.addMiddleware { ErrorMiddleware<BasicRequestContext>(shape: { _ in .admin }) }
            // What a restart does to every session, done to this one alone.
            router.get("/ended") { _, _ -> String in
                _ = try await client.query("SELECT pg_terminate_backend(pg_backend_pid())").first(decoding: Bool.self)
                return "the session survived"
            }
            try await Application(router: router).test(.router) { http in
                try await http.execute(uri: "/ended", method: .get) { response in
                    #expect(response.status == .serviceUnavailable)
                    let body = try JSONSerialization.jsonObject(with: Data(buffer: response.body)) as? [String: Any]
                    let error = try #require(body?["error"] as? [String: Any])
                    #expect(error["code"] as? String == "database_unavailable")
                    #expect((error["recovery"] as? String)?.isEmpty == false)
                    #expect(response.headers[.retryAfter] != nil)
                }
            }
        }
    }

    /// postgres-nio 1.33 can lease a connection PostgreSQL has just closed and lose the query written
    /// to it (never completed). Stood in for here by a body that closes its connection and then never
    /// returns: the caller is answered, and the pool serves the next query.
    @Test(.timeLimit(.minutes(1)))
    func aBodyStillWaitingOnceItsConnectionClosedIsAnsweredDatabaseUnavailable() async throws {
        try await withPostgresClient(url: try TestServers.databaseURL()) { client in
            let database = Database(client: client, logger: TestServers.logger)
            let lost = AsyncStream<Void>.makeStream()
            defer { lost.continuation.finish() }
            let error = await #expect(throws: RungateError.self) {
                try await database.transaction { connection in
                    try await connection.close()
                    for await _ in lost.stream {}
                }
            }
            #expect(error?.code == "database_unavailable")
            let next = try await database.client.query("SELECT 1").first(decoding: Int.self)
            #expect(next == 1)
        }
    }

    /// After about 15 s without a connection the pool fails what waits in its queue, and every new
    /// lease until it connects again, with its circuit breaker's error (not a `PSQLError`).
    @Test func aRequestThePoolsCircuitBreakerRefusesAnswers503() async throws {
        let router = Router()
        router.addMiddleware { ErrorMiddleware<BasicRequestContext>(shape: { _ in .admin }) }
        router.get("/refused") { _, _ -> String in throw ConnectionPoolError.connectionCreationCircuitBreakerTripped }
        try await Application(router: router).test(.router) { http in
            try await http.execute(uri: "/refused", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(String(buffer: response.body).contains("database_unavailable"))
            }
        }
    }

    /// A call still waiting for a connection when the health check finds PostgreSQL away is refused
    /// then, not held until it answers; and its work never runs on the connection the pool hands it
    /// later (its caller was told nothing was changed).
    @Test(.timeLimit(.minutes(1)))
    func aCallWaitingForAConnectionWhileTheDatabaseIsAwayIsRefusedAndNeverRuns() async throws {
        final class Flags: Sendable {
            private let holdingFlag = Atomic<Bool>(false), ranFlag = Atomic<Bool>(false)
            var holding: Bool { holdingFlag.load(ordering: .relaxed) }
            var ran: Bool { ranFlag.load(ordering: .relaxed) }
            func hold() { holdingFlag.store(true, ordering: .relaxed) }
            func run() { ranFlag.store(true, ordering: .relaxed) }
        }
        try await withPostgresClient(url: try TestServers.databaseURL() + "&pool_size=1") { client in
            let away = DatabaseHealth(logger: TestServers.logger, interval: .milliseconds(10), timeout: .milliseconds(10)) { false }
            let monitor = Task { try await away.run() }
            defer { monitor.cancel() }
            #expect(try await eventually { !away.isReachable })
            let database = Database(client: client, logger: TestServers.logger, health: away)
            let flags = Flags()

            // The pool's one connection is busy for a second.
            let holder = Task {
                try await client.withConnection { _ in
                    flags.hold()
                    try await Task.sleep(for: .seconds(1))
                }
            }
            #expect(try await eventually { flags.holding })
            let error = await #expect(throws: RungateError.self) {
                try await database.withConnection { _ in flags.run() }
            }
            #expect(error?.code == "database_unavailable")

            try await holder.value
            let next = try await client.query("SELECT 1").first(decoding: Int.self)  // after the refused call's turn
            #expect(next == 1)
            #expect(!flags.ran, "the refused call's work never runs")
        }
    }
}
