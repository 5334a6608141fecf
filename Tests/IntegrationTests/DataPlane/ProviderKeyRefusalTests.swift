import Common
@testable import DataPlane
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
import TestSupport
import Testing

/// A call whose counters cleared but whose provider key cannot be used is refused like any other
/// refusal: recorded as a step with the rule that stopped it, answered with its run, and what the
/// check reserved on the budgets given back at once — not held until the reservation's lease runs
/// out (eleven minutes, in which the budget looks spent to every other call).
@Suite struct ProviderKeyRefusalTests {
    @Test func aProviderKeyThatCannotBeOpenedGivesBackTheReservationAndIsAStep() async throws {
        try await OrgFixture.withDataPlaneRole { database, owner, fixture, _ in
            // A data plane whose master key is not the one the org's data key was wrapped with.
            let app = try TestApps.dataPlane(database, keyring: .random(), redisURL: try TestServers.redisURL())
            let org = fixture.orgID.lowercasedString, budget = fixture.resources.budgetID.lowercasedString
            try await app.test(.live) { client in
                let body = ByteBuffer(string: #"{"model":"gpt-4o-mini","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}"#)
                let runID = try await client.execute(uri: "/v1/chat/completions", method: .post,
                                         headers: [.authorization: "Bearer \(fixture.resources.agentToken.value)", .contentType: "application/json"],
                                         body: body) { response in
                    #expect(response.status == .internalServerError)
                    let answer = try JSONParser.parse(response.body.readableBytesView)
                    #expect(answer["error"]?["code"] == "provider_key_undecryptable", "\(answer)")
                    return response.headers[HTTPField.Name("x-rungate-run-id")!].flatMap { UUID(canonical: $0) }
                }
                let run = try #require(runID, "the refusal names its run")
                // The agent's day budget was reserved on (its counter exists) and holds nothing now.
                try await withRedisClient { redis in
                    let keys = try await redis.send("KEYS", "rungate:{\(org)}:budget:\(budget):*").array?.compactMap(\.string) ?? []
                    let counter = try #require(keys.first { !$0.hasSuffix(":holds") })
                    var reserved: Int?
                    for _ in 0..<100 {
                        reserved = try await redis.send("HGET", counter, "reserved").int
                        if reserved == 0 { break }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    #expect(reserved == 0, "the reservation was given back")
                }
                // Recorded (steps are written in batches, a fraction of a second later).
                var step: String?
                for _ in 0..<100 where step == nil {
                    step = try await owner.query(
                        "SELECT status || '/' || error_code || '/' || rule FROM steps WHERE run_id = \(run)", logger: TestServers.logger
                    ).first(decoding: String.self)
                    if step == nil { try await Task.sleep(for: .milliseconds(50)) }
                }
                #expect(step == "blocked/provider_key_undecryptable/provider.key")
                // Runs and steps the data plane starts have time-ordered (version 7) ids: their
                // primary keys grow at the right edge of the index.
                let stepID = try await owner.query("SELECT id FROM steps WHERE run_id = \(run)", logger: TestServers.logger).first(decoding: UUID.self)
                #expect(run.uuid.6 >> 4 == 7)
                #expect(try #require(stepID).uuid.6 >> 4 == 7)
            }
        }
    }
}
