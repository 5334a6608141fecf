import Common
@testable import DataPlane
import Foundation
import Logging
import PostgresNIO
import Synchronization
import TestSupport
import Testing

/// Runs resolved off the request path, against the real database as the data plane's role: a new
/// run is written with the step batch (before its steps, announced once), a known run is answered
/// from memory, and state changes reach the directory by the `runs` trigger's notification.
@Suite struct RunDirectoryTests {
    /// A repository that counts its round trips, so a test can tell which calls needed the database.
    final class CountingRuns: RunRepository {
        let base: PostgresRunRepository
        let resolves = Atomic<Int>(0)
        /// Resolves that have returned.
        let resolved = Atomic<Int>(0)
        init(_ base: PostgresRunRepository) { self.base = base }
        func resolve(id: UUID?, principal: AgentPrincipal, policy: (id: UUID, version: Int)?, metadata: JSONValue,
                     commit: RunCreationCommit) async throws -> RunHandle {
            resolves.add(1, ordering: .relaxed)
            defer { resolved.add(1, ordering: .relaxed) }
            return try await base.resolve(id: id, principal: principal, policy: policy, metadata: metadata, commit: commit)
        }
        func create(_ run: NewRun) async throws { try await base.create(run) }
        func get(id: UUID, principal: AgentPrincipal) async throws -> Run? { try await base.get(id: id, principal: principal) }
        func end(id: UUID, principal: AgentPrincipal) async throws -> Run? { try await base.end(id: id, principal: principal) }
    }

    /// The real step repository, noting which runs and steps each batch carried.
    final class BatchLog: StepRepository {
        let base = Mutex<PostgresStepRepository?>(nil)
        let batches = Mutex<[(runs: [UUID], steps: [UUID])]>([])
        /// Runs once, while the next batch is being written.
        let duringNextInsert = Mutex<(@Sendable () -> Void)?>(nil)
        func insert(_ steps: [StepRecord], runs: [NewRun], events: [OutboxEvent]) async throws {
            batches.withLock { $0.append((runs.map(\.id), steps.map(\.id))) }
            duringNextInsert.withLock { action in defer { action = nil }; return action }?()
            try await base.withLock { $0! }.insert(steps, runs: runs, events: events)
        }
        func steps(runID: UUID, orgID: UUID) async throws -> [JSONValue] { try await base.withLock { $0! }.steps(runID: runID, orgID: orgID) }
    }

    static func principal(_ fixture: OrgFixture, agentID: UUID? = nil) -> AgentPrincipal {
        AgentPrincipal(tokenID: fixture.resources.agentTokenID, tokenHash: "test", agentID: agentID ?? fixture.resources.agentID,
                       orgID: fixture.orgID, teamID: fixture.teamID, policyID: nil, policyVersion: nil, agentActive: true, orgActive: true,
                       storePayloads: false)
    }

    /// `log`: the step repository goes through it (batches of `batchSize`).
    static func with(batchSize: Int = 500, log: BatchLog? = nil, timeToLive: Duration = .seconds(30),
                     _ body: @escaping @Sendable (RunDirectory, StepRecorder, CountingRuns, OrgFixture, PostgresClient, String) async throws -> Void) async throws {
        try await OrgFixture.withDataPlaneRole { database, owner, fixture, data in
            // Every org event is kept, so `run.started` can be counted.
            try await owner.query("UPDATE webhooks SET active = true, events = ARRAY['run.started'] WHERE org_id = \(fixture.orgID)",
                                  logger: TestServers.logger)
            let runs = CountingRuns(PostgresRunRepository(database: data))
            let steps = PostgresStepRepository(database: data)
            log?.base.withLock { $0 = steps }
            let recorder = try StepRecorder(repository: log ?? steps, logger: TestServers.logger, batchSize: batchSize)
            let directory = RunDirectory(repository: runs, recorder: recorder, health: nil, timeToLive: timeToLive)
            try await body(directory, recorder, runs, fixture, owner, database.ownerURL)
        }
    }

    static func count(_ sql: PostgresQuery, on client: PostgresClient) async throws -> Int {
        try await client.query(sql, logger: TestServers.logger).first(decoding: Int.self) ?? -1
    }

    static func step(_ run: RunHandle, _ fixture: OrgFixture, tokens: Int = 0) -> StepRecord {
        var step = StepRecord(orgID: fixture.orgID, runID: run.id, kind: .modelCall, endpoint: "/v1/chat/completions", status: "ok")
        step.usage = TokenUsage(input: tokens, output: 0)
        return step
    }

    @Test func newRunIsWrittenWithItsFirstStepBatchAndAnnouncedOnce() async throws {
        try await Self.with { directory, recorder, runs, fixture, owner, _ in
            let principal = Self.principal(fixture)
            let run = try await directory.resolve(id: nil, principal: principal, policy: nil)
            #expect(run.created && run.status == .running)
            #expect(runs.resolves.load(ordering: .relaxed) == 0, "a new run needs no database round trip")
            #expect(try await Self.count("SELECT count(*)::int FROM runs WHERE id = \(run.id)", on: owner) == 0)

            recorder.record(Self.step(run, fixture, tokens: 7))
            #expect(await recorder.flush())
            #expect(try await Self.count("SELECT step_count FROM runs WHERE id = \(run.id) AND agent_id = \(fixture.resources.agentID)", on: owner) == 1)
            #expect(try await Self.count("SELECT count(*)::int FROM events WHERE type = 'run.started' AND payload->>'run_id' = \(run.id.uuidString.lowercased())",
                                         on: owner) == 1)

            // The agent names it on its next call: answered from memory, with this replica's counts.
            let again = try await directory.resolve(id: run.id, principal: principal, policy: nil)
            #expect(!again.created && again.stepCount == 1 && again.tokens == 7)
            #expect(runs.resolves.load(ordering: .relaxed) == 0)
            // Written again on demand (an approval refers to it): idempotent, still announced once.
            try await directory.ensureWritten(run.id)
            #expect(try await Self.count("SELECT count(*)::int FROM events WHERE type = 'run.started' AND payload->>'run_id' = \(run.id.uuidString.lowercased())",
                                         on: owner) == 1)
        }
    }

    /// A run's entry reloaded from its row (past half its time to live) keeps the steps this replica
    /// recorded and has not written yet — the row has none of them — and takes up the steps other
    /// replicas wrote: the run ceilings never see a run's count go down.
    @Test func aReloadedRunKeepsTheStepsQueuedHereAndAddsTheOtherReplicas() async throws {
        try await Self.with(timeToLive: .milliseconds(400)) { directory, recorder, runs, fixture, owner, _ in
            let principal = Self.principal(fixture)
            let run = try await directory.resolve(id: UUID(), principal: principal, policy: nil)  // its row written at once
            for _ in 0..<3 { recorder.record(Self.step(run, fixture, tokens: 4)) }  // queued: not in the row yet
            /// Reloads the entry in the background and waits until the reload has landed.
            func reload() async throws -> RunHandle {
                let before = runs.resolved.load(ordering: .relaxed)
                try await Task.sleep(for: .milliseconds(250))  // past half the time to live
                _ = try await directory.resolve(id: run.id, principal: principal, policy: nil)
                while runs.resolved.load(ordering: .relaxed) == before { try await Task.sleep(for: .milliseconds(5)) }
                while directory.entries.isLoading(run.id) { try await Task.sleep(for: .milliseconds(5)) }  // it lands right after
                return try await directory.resolve(id: run.id, principal: principal, policy: nil)
            }
            let reloaded = try await reload()
            #expect(try await Self.count("SELECT step_count FROM runs WHERE id = \(run.id)", on: owner) == 0, "the row had none of them")
            #expect(reloaded.stepCount == 3 && reloaded.tokens == 12, "\(reloaded)")

            // Written, then two more steps written by another replica: the next reload counts all five.
            #expect(await recorder.flush())
            let other = PostgresStepRepository(database: Database(client: owner, logger: TestServers.logger))
            try await other.insert([Self.step(run, fixture, tokens: 1), Self.step(run, fixture, tokens: 1)], runs: [], events: [])
            let caughtUp = try await reload()
            #expect(caughtUp.stepCount == 5 && caughtUp.tokens == 14, "\(caughtUp)")
        }
    }

    @Test func aRunAnAgentNamesIsCreatedAtOnceAndWrittenAgainWithItsFirstStepsBatch() async throws {
        try await Self.with { directory, recorder, runs, fixture, owner, _ in
            let principal = Self.principal(fixture)
            let kept = try await directory.resolve(id: UUID(), principal: principal, policy: nil)
            let lost = try await directory.resolve(id: UUID(), principal: principal, policy: nil)
            #expect(kept.created && lost.created && runs.resolves.load(ordering: .relaxed) == 2)
            #expect(try await !directory.resolve(id: kept.id, principal: principal, policy: nil).created, "only its first call created it")
            for run in [kept, lost] {
                #expect(try await Self.count("SELECT count(*)::int FROM runs WHERE id = \(run.id)", on: owner) == 1, "visible to every replica at once")
            }
            // Its commit did not wait for the disk: a PostgreSQL crash just after it could lose it.
            try await owner.query("DELETE FROM runs WHERE id = \(lost.id)", logger: TestServers.logger)
            recorder.record(Self.step(kept, fixture, tokens: 3))
            recorder.record(Self.step(lost, fixture, tokens: 5))
            #expect(await recorder.flush())
            for (run, tokens) in [(kept, 3), (lost, 5)] {
                #expect(try await Self.count("SELECT step_count FROM runs WHERE id = \(run.id) AND agent_id = \(fixture.resources.agentID)", on: owner) == 1,
                        "the step counted once, whether the batch found its run or wrote it again")
                #expect(try await Self.count("SELECT input_tokens::int FROM runs WHERE id = \(run.id)", on: owner) == tokens)
                #expect(try await Self.count("SELECT count(*)::int FROM steps WHERE run_id = \(run.id)", on: owner) == 1)
            }
            #expect(try await Self.count("SELECT count(*)::int FROM events WHERE type = 'run.started' AND payload->>'run_id' = \(kept.id.uuidString.lowercased())",
                                         on: owner) == 1, "announced once")
        }
    }

    @Test func creatingARunToBeWrittenAgainSkipsTheFlushForThatTransactionAlone() async throws {
        try await Self.with { _, _, runs, fixture, _, _ in
            let principal = Self.principal(fixture)
            // What the transaction that ran the statement commits with, read before its commit.
            func commitSetting(_ runID: UUID, _ commit: RunCreationCommit) async throws -> String? {
                try await runs.base.database.client.withConnection { connection in
                    try await connection.query("BEGIN", logger: TestServers.logger)
                    let statement = PostgresRunRepository.ResolveRun(
                        runID: runID, orgID: principal.orgID, agentID: principal.agentID, policyID: nil, policyVersion: nil, metadata: "{}",
                        synchronousCommit: commit == .rewrittenWithSteps ? "off" : nil)
                    for try await _ in try await connection.execute(statement, logger: TestServers.logger) {}
                    let setting = try await connection.query("SHOW synchronous_commit", logger: TestServers.logger).first(decoding: String.self)
                    try await connection.query("COMMIT", logger: TestServers.logger)
                    let after = try await connection.query("SHOW synchronous_commit", logger: TestServers.logger).first(decoding: String.self)
                    #expect(after == "on", "the setting ends with its transaction")
                    return setting
                }
            }
            let id = UUID()
            let created = try await commitSetting(id, .rewrittenWithSteps), flushed = try await commitSetting(UUID(), .flushed)
            let found = try await commitSetting(id, .rewrittenWithSteps)
            #expect(created == "off")
            #expect(flushed == "on", "the server's own setting")
            #expect(found == "off", "set on the path that finds the run too")
        }
    }

    @Test func aNewRunStartsWithItsBatchsTotalsAndABatchWrittenTwiceCountsOnce() async throws {
        try await Self.with { _, _, _, fixture, owner, _ in
            let repository = PostgresStepRepository(database: Database(client: owner, logger: TestServers.logger))
            let run = NewRun(id: UUID.random(), orgID: fixture.orgID, agentID: fixture.resources.agentID, policyID: nil, policyVersion: nil)
            let handle = RunHandle(id: run.id, status: .running, created: true, policyID: nil, policyVersion: nil, stepCount: 0, tokens: 0)
            var first = Self.step(handle, fixture, tokens: 5), second = Self.step(handle, fixture, tokens: 6)
            first.costMicros = 100
            second.costMicros = 20
            second.createdAt = first.createdAt.addingTimeInterval(2)
            first.payload = SealedPayload(dataKeyID: UUID.random(), request: [1, 2, 3], response: nil)
            func payloads(_ runID: UUID) async throws -> Int {
                try await Self.count("SELECT count(*)::int FROM payloads WHERE run_id = \(runID)", on: owner)
            }
            func totals() async throws -> String {
                try await owner.query("""
                    SELECT step_count || '/' || input_tokens || '/' || cost_micros || '/' || (last_step_at = \(second.createdAt))
                    FROM runs WHERE id = \(run.id)
                    """, logger: TestServers.logger).first(decoding: String.self) ?? "none"
            }
            try await repository.insert([first, second], runs: [run], events: [])
            #expect(try await totals() == "2/11/120/true")
            #expect(try await payloads(run.id) == 1)
            // The same batch again (a retried write that had committed): nothing counts twice.
            try await repository.insert([first, second], runs: [run], events: [])
            #expect(try await totals() == "2/11/120/true")
            #expect(try await payloads(run.id) == 1)
            // A later batch on the existing run adds to it; a step of a run that is gone (its org
            // purged meanwhile) is dropped with its payload, and the rest of the batch is written.
            var third = Self.step(handle, fixture, tokens: 1)
            third.createdAt = second.createdAt.addingTimeInterval(1)
            third.payload = SealedPayload(dataKeyID: UUID.random(), request: [4], response: [5])
            let gone = RunHandle(id: UUID.random(), status: .running, created: false, policyID: nil, policyVersion: nil, stepCount: 0, tokens: 0)
            var orphan = Self.step(gone, fixture, tokens: 9)
            orphan.payload = SealedPayload(dataKeyID: UUID.random(), request: [6], response: nil)
            try await repository.insert([third, orphan], runs: [], events: [])
            #expect(try await totals() == "3/12/120/false")
            #expect(try await payloads(run.id) == 2)
            #expect(try await Self.count("SELECT count(*)::int FROM steps WHERE run_id = \(gone.id)", on: owner) == 0)
            #expect(try await payloads(gone.id) == 0)
        }
    }

    /// A run whose agent is gone (deleted meanwhile), or is not the org's, is not written; the rest
    /// of its batch is.
    @Test func aRunOfAnAgentThatIsGoneIsNotWritten() async throws {
        try await Self.with { _, _, _, fixture, owner, _ in
            let repository = PostgresStepRepository(database: Database(client: owner, logger: TestServers.logger))
            let kept = NewRun(id: UUID.random(), orgID: fixture.orgID, agentID: fixture.resources.agentID, policyID: nil, policyVersion: nil)
            let gone = NewRun(id: UUID.random(), orgID: fixture.orgID, agentID: UUID.random(), policyID: nil, policyVersion: nil)
            let elsewhere = NewRun(id: UUID.random(), orgID: UUID.random(), agentID: fixture.resources.agentID, policyID: nil, policyVersion: nil)
            try await repository.insert([], runs: [kept, gone, elsewhere], events: [])
            for (run, written) in [(kept, 1), (gone, 0), (elsewhere, 0)] {
                #expect(try await Self.count("SELECT count(*)::int FROM runs WHERE id = \(run.id)", on: owner) == written)
            }
        }
    }

    @Test func theBackgroundFlushHoldsAFreshRunForItsFirstStepButNotLongerThanASecond() async throws {
        try await Self.with { directory, recorder, _, fixture, owner, _ in
            let principal = Self.principal(fixture)
            // The hold is measured from a time taken before the run began (however long the
            // machine takes to get to the flush), and the second passed by moving it.
            var before = Date()
            let run = try await directory.resolve(id: nil, principal: principal, policy: nil)
            #expect(await recorder.flush(holdingFreshRuns: true, now: before))
            #expect(try await Self.count("SELECT count(*)::int FROM runs WHERE id = \(run.id)", on: owner) == 0, "held for its first step")
            recorder.record(Self.step(run, fixture, tokens: 3))
            #expect(await recorder.flush(holdingFreshRuns: true, now: before))
            #expect(try await Self.count("SELECT step_count FROM runs WHERE id = \(run.id)", on: owner) == 1)

            // A run whose call takes long still appears within about a second.
            before = Date()
            let slow = try await directory.resolve(id: nil, principal: principal, policy: nil)
            #expect(await recorder.flush(holdingFreshRuns: true, now: before))
            #expect(try await Self.count("SELECT count(*)::int FROM runs WHERE id = \(slow.id)", on: owner) == 0)
            #expect(await recorder.flush(holdingFreshRuns: true, now: Date().addingTimeInterval(1.1)))
            #expect(try await Self.count("SELECT count(*)::int FROM runs WHERE id = \(slow.id) AND step_count = 0", on: owner) == 1)
        }
    }

    /// At saturation the queue holds several batches and its runs are over a second old: a run still
    /// goes with the batch of its first step — written once, with that step's totals — not alone in
    /// an earlier batch and updated right after. A run with no step queued (its call still under
    /// way) waits until the queue fits in a batch: a pass does not walk the backlog to find out.
    @Test func aRunWhoseFirstStepWaitsInALaterBatchGoesWithThatBatch() async throws {
        let log = BatchLog()
        try await Self.with(batchSize: 2, log: log) { directory, recorder, _, fixture, owner, _ in
            let principal = Self.principal(fixture)
            var runs: [RunHandle] = []
            for _ in 0..<4 { runs.append(try await directory.resolve(id: nil, principal: principal, policy: nil)) }
            for run in runs.prefix(3) { recorder.record(Self.step(run, fixture, tokens: 1)) }
            // Every run past the one-second hold.
            #expect(await recorder.flush(holdingFreshRuns: true, now: Date().addingTimeInterval(1.1)))
            #expect(log.batches.withLock { $0.map(\.runs) } == [[runs[0].id, runs[1].id], [runs[2].id, runs[3].id]])
            #expect(try await Self.count("SELECT count(*)::int FROM runs WHERE org_id = \(fixture.orgID) AND step_count = 1", on: owner) == 3)
            #expect(try await Self.count("SELECT count(*)::int FROM runs WHERE id = \(runs[3].id) AND step_count = 0", on: owner) == 1)
        }
    }

    /// A pass writes what was queued when it began: steps recorded while its batch is being written
    /// wait for the next pass rather than follow at once, a few per transaction.
    @Test func stepsQueuedDuringAWriteWaitForTheNextPass() async throws {
        let log = BatchLog()
        try await Self.with(log: log) { directory, recorder, _, fixture, owner, _ in
            let run = try await directory.resolve(id: nil, principal: Self.principal(fixture), policy: nil)
            recorder.record(Self.step(run, fixture))
            log.duringNextInsert.withLock { $0 = { recorder.record(Self.step(run, fixture)) } }
            #expect(await recorder.flush(holdingFreshRuns: true))
            #expect(log.batches.withLock { $0.map(\.steps.count) } == [1])
            #expect(recorder.pending == 1)
            #expect(await recorder.flush(holdingFreshRuns: true))
            #expect(log.batches.withLock { $0.map(\.steps.count) } == [1, 1])
            #expect(try await Self.count("SELECT count(*)::int FROM steps WHERE run_id = \(run.id)", on: owner) == 2)
        }
    }

    @Test func ensureWrittenWritesARunBeforeItsBatch() async throws {
        try await Self.with { directory, _, _, fixture, owner, _ in
            let run = try await directory.resolve(id: nil, principal: Self.principal(fixture), policy: nil)
            try await directory.ensureWritten(run.id)
            // Written as it was started: the agent's, in its org, without a policy.
            #expect(try await Self.count(
                """
                SELECT count(*)::int FROM runs WHERE id = \(run.id) AND status = 'running' AND org_id = \(fixture.orgID)
                  AND agent_id = \(fixture.resources.agentID) AND policy_id IS NULL
                """, on: owner) == 1)
        }
    }

    @Test func anotherAgentsRunBehavesLikeNone() async throws {
        try await Self.with { directory, _, _, fixture, owner, _ in
            let run = try await directory.resolve(id: nil, principal: Self.principal(fixture), policy: nil)
            let otherAgent = try await owner.query("INSERT INTO agents (org_id, name) VALUES (\(fixture.orgID), 'other') RETURNING id",
                                                   logger: TestServers.logger).first(decoding: UUID.self)!
            await #expect(throws: RungateError.self) {
                _ = try await directory.resolve(id: run.id, principal: Self.principal(fixture, agentID: otherAgent), policy: nil)
            }
        }
    }

    @Test func aStateChangeNotifiesAndTheNextCallSeesIt() async throws {
        try await Self.with { directory, _, runs, fixture, owner, ownerURL in
            let principal = Self.principal(fixture)
            let run = try await directory.resolve(id: nil, principal: principal, policy: nil)
            try await directory.ensureWritten(run.id)
            // The trigger's notification, heard on a connection of its own.
            let heard = try await Self.notification(afterCancelling: run.id, owner: owner, url: ownerURL)
            #expect(heard == Invalidation.run(run.id).payload)
            // Until the notification is applied the directory answers from memory; then from the database.
            #expect(try await directory.resolve(id: run.id, principal: principal, policy: nil).status == .running)
            directory.apply(Invalidation(payload: heard ?? "")!)
            let after = try await directory.resolve(id: run.id, principal: principal, policy: nil)
            #expect(after.status == .cancelled)
            #expect(runs.resolves.load(ordering: .relaxed) == 1)
        }
    }

    /// Cancels the run (as the control plane does) while listening on the invalidation channel.
    static func notification(afterCancelling runID: UUID, owner: PostgresClient, url: String) async throws -> String? {
        let configuration = try PostgresConnection.Configuration(url: url, applicationName: "run-directory-test")
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: TestServers.logger)
        defer { Task { try? await connection.close() } }
        return try await connection.listen(on: Invalidation.channel) { notifications in
            try await owner.query("UPDATE runs SET status = 'cancelled', ended_at = now() WHERE id = \(runID)", logger: TestServers.logger)
            for try await notification in notifications { return notification.payload }
            return nil
        }
    }
}
