import Common
@testable import DataPlane
import Foundation
import NIOPosix
import PostgresNIO
import ServiceLifecycle
import TestSupport
import Testing

/// The durable budget spend, against the real database as the data plane's role: settled costs are
/// summed per window and written in one statement, and a batch sent again (its first write outlived
/// its deadline, and may or may not have committed) counts once.
@Suite struct BudgetSpendRecorderTests {
    @Test func aBatchWrittenTwiceCountsOnceAndPendingSpendFollows() async throws {
        try await OrgFixture.withDataPlaneRole { _, owner, fixture, data in
            let budgetID = UUID()
            try await owner.query(
                "INSERT INTO budgets (id, org_id, scope, period, cap_micros) VALUES (\(budgetID), \(fixture.orgID), 'org', 'day', 1000000)",
                logger: TestServers.logger)
            let day = Calendar(identifier: .gregorian).startOfDay(for: Date())
            let window = BudgetSpendRecorder.Window(orgID: fixture.orgID, budgetID: budgetID, periodStart: day)
            @Sendable func spent() async throws -> Int64 {
                try await owner.query("SELECT coalesce(sum(spent_micros), 0)::bigint FROM budget_spend WHERE budget_id = \(budgetID)",
                                      logger: TestServers.logger).first(decoding: Int64.self) ?? -1
            }
            let recorder = BudgetSpendRecorder(database: data, logger: TestServers.logger)

            let batch = BudgetSpendRecorder.Batch(sums: [window: 700])
            try await recorder.write(batch)
            try await recorder.write(batch)
            #expect(try await spent() == 700, "the same batch sent twice is added once")
            try await recorder.write(BudgetSpendRecorder.Batch(sums: [window: 50]))
            #expect(try await spent() == 750, "another batch adds")

            recorder.add(25, to: window)
            recorder.add(5, to: window)
            #expect(recorder.unwritten(for: window) == 30)
            #expect(await recorder.flush())
            #expect(recorder.unwritten(for: window) == 0)
            #expect(try await spent() == 780)
        }
    }

    /// PostgreSQL takes the connection and never answers while the process stops: the drain gives up
    /// at its limit (five attempts of a full write deadline each took a minute at the defaults).
    @Test(.timeLimit(.minutes(1))) func aShutdownWhilePostgreSQLDoesNotAnswerEndsWithinTheDrainLimit() async throws {
        let silent = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let url = "postgres://rungate_data:unused@127.0.0.1:\(silent.localAddress!.port!)/rungate?sslmode=disable"
        try await withPostgresClient(url: url) { client in
            let recorder = BudgetSpendRecorder(database: Database(client: client, logger: TestServers.logger), logger: TestServers.logger,
                                               interval: .seconds(3600), writeDeadline: .seconds(3), drainLimit: .seconds(1))
            recorder.add(40, to: .init(orgID: UUID(), budgetID: UUID(), periodStart: Date()))
            let group = ServiceGroup(configuration: .init(services: [recorder], logger: TestServers.logger))
            let running = Task { try await group.run() }
            try await Task.sleep(for: .milliseconds(100))
            let began = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await running.value
            #expect(ContinuousClock.now - began < .seconds(3), "one write deadline would be 3 s, five 15 s")
        }
        try await silent.close()
    }
}
