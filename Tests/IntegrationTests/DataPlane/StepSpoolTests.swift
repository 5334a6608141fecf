import Common
@testable import DataPlane
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// Steps that cannot be written (PostgreSQL away) go to the disk spool past the memory buffer, and a
/// data plane started afterwards — as after a crash — writes every one of them to the real database.
@Suite struct StepSpoolTests {
    /// The real repository behind a switch standing for "PostgreSQL does not answer".
    final class Switchable: StepRepository {
        let base: PostgresStepRepository
        let down = Atomic<Bool>(true)
        init(_ base: PostgresStepRepository) { self.base = base }
        func insert(_ steps: [StepRecord], runs: [NewRun], events: [OutboxEvent]) async throws {
            if down.load(ordering: .relaxed) { throw RungateError.dependencyUnavailable("database") }
            try await base.insert(steps, runs: runs, events: events)
        }
        func steps(runID: UUID, orgID: UUID) async throws -> [JSONValue] { try await base.steps(runID: runID, orgID: orgID) }
    }

    /// The real repository, answering but held up until released (PostgreSQL slower than the calls).
    final class Slow: StepRepository {
        let base: PostgresStepRepository
        let held = Atomic<Bool>(true)
        let entered = Atomic<Bool>(false)
        init(_ base: PostgresStepRepository) { self.base = base }
        func insert(_ steps: [StepRecord], runs: [NewRun], events: [OutboxEvent]) async throws {
            entered.store(true, ordering: .relaxed)
            while held.load(ordering: .relaxed) { try await Task.sleep(for: .milliseconds(10)) }
            try await base.insert(steps, runs: runs, events: events)
        }
        func steps(runID: UUID, orgID: UUID) async throws -> [JSONValue] { try await base.steps(runID: runID, orgID: orgID) }
    }

    static func files(in folder: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".json") }
    }

    static func eventually(_ what: String, _ condition: () async throws -> Bool) async throws {
        if try await !TestSupport.eventually(every: .milliseconds(50), condition) { Issue.record("timed out waiting until \(what)") }
    }

    /// A fresh spool folder, an org with a run not yet written, and the step repository connected as
    /// the data plane's role; `body` also gets the owner's connection, to read what was written, and
    /// the org's data key.
    static func withSpoolFixture(
        _ body: @escaping @Sendable (_ folder: String, _ owner: PostgresClient, _ repository: PostgresStepRepository, _ run: NewRun,
                                     _ key: DataKey) async throws -> Void
    ) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rungate-spool-test-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try await OrgFixture.withDataPlaneRole { _, owner, fixture, data in
            let run = NewRun(id: UUID(), orgID: fixture.orgID, agentID: fixture.resources.agentID, policyID: nil, policyVersion: nil)
            let key = try await PostgresDataKeyRepository(database: data, keyring: fixture.resources.keyring).active(orgID: fixture.orgID)
            try await body(folder, owner, PostgresStepRepository(database: data), run, try #require(key))
        }
    }

    /// The run's `index`th model call, costing `index` micro-dollars.
    static func step(_ index: Int, of run: NewRun) -> StepRecord {
        var step = StepRecord(orgID: run.orgID, runID: run.id, kind: .modelCall, endpoint: "/v1/chat/completions", status: "ok")
        step.costMicros = Int64(index)
        return step
    }

    /// Long enough to be compressed (`PendingPayload.compressedFromBytes`), as an agent's requests are.
    static func sentText(_ index: some BinaryInteger) -> String {
        String(repeating: "request number \(index) to the model, ", count: 40)
    }

    /// Payloads are queued as sent and sealed as they leave the queue: the spool never holds one unsealed.
    static func expectNoPayloadAsSent(in folder: String) throws {
        let spooled = try Self.files(in: folder).map { try String(contentsOfFile: "\(folder)/\($0)", encoding: .utf8) }.joined()
        #expect(spooled.contains("request") && !spooled.contains("request number"))
        #expect(!spooled.contains(Data("request number".utf8).base64EncodedString().dropLast(4)))
    }

    /// Each step's payload reads back as sent: compressed, then sealed with the org's key.
    static func expectPayloads(of steps: [StepRecord], readBackAs sent: [String], key: DataKey, owner: PostgresClient) async throws {
        for (step, text) in zip(steps, sent) {
            let row = try await owner.query(
                "SELECT compression, request_ciphertext FROM payloads WHERE step_id = \(step.id)", logger: TestServers.logger
            ).firstRow(decoding: (String?, ByteBuffer).self)
            let (compression, ciphertext) = try #require(row, "the payload of step \(step.id)")
            #expect(compression == "zstd")
            let opened = try key.open(Array(buffer: ciphertext), purpose: .payload)
            #expect(String(decoding: try PayloadCompression.plaintext(opened, compression: .zstd), as: UTF8.self) == text)
        }
    }

    /// Payloads too, spooled only once sealed.
    @Test func stepsPastTheBufferAreSpooledAndWrittenAfterARestart() async throws {
        try await Self.withSpoolFixture { folder, owner, base, run, key in
            let repository = Switchable(base)
            let steps = (0..<20).map { Self.step($0, of: run) }
            let sent = (0..<20).map(Self.sentText)

            // PostgreSQL away, a buffer of a few steps: the queue goes to disk.
            let first = try StepRecorder(repository: repository, logger: TestServers.logger, interval: .milliseconds(20),
                                         spoolDirectory: folder, memoryLimitBytes: 2_000, drainLimit: .seconds(1))
            let loop = Task { try await first.run() }
            first.start(run)
            for (step, text) in zip(steps, sent) {
                first.record(step, payload: PendingPayload(key: key, request: ByteBuffer(string: text), response: nil))
            }
            try await Self.eventually("the steps are spooled") { !Self.files(in: folder).isEmpty && first.pending <= 1 }
            try Self.expectNoPayloadAsSent(in: folder)
            // The process dies (nothing is drained); PostgreSQL comes back; a new process starts.
            loop.cancel()
            _ = await loop.result
            repository.down.store(false, ordering: .relaxed)
            let second = try StepRecorder(repository: repository, logger: TestServers.logger, interval: .milliseconds(20),
                                          spoolDirectory: folder)
            let restarted = Task { try await second.run() }
            defer { restarted.cancel() }
            try await Self.eventually("the spool is written") { Self.files(in: folder).isEmpty }

            let (count, cost, payloads) = try await owner.query(
                """
                SELECT r.step_count, r.cost_micros, (SELECT count(*)::int FROM payloads p WHERE p.run_id = r.id)
                FROM runs r WHERE r.id = \(run.id)
                """, logger: TestServers.logger).firstRow(decoding: (Int, Int64, Int).self) ?? (0, Int64(0), 0)
            #expect(count == 20 && cost == (0..<20).reduce(0, +) && payloads == 20)
            try await Self.expectPayloads(of: steps, readBackAs: sent, key: key, owner: owner)
            #expect(try await owner.query("SELECT count(*)::int FROM steps WHERE run_id = \(run.id)", logger: TestServers.logger)
                .first(decoding: Int.self) == 20)
        }
    }

    /// A batch is sealed a chunk at a time (`StepRecorder.SealingChunk`): across the chunks, every
    /// step is written with its own payload, and a step recorded without one stays without.
    @Test func aBatchSealedInChunksKeepsEachPayloadWithItsStep() async throws {
        try await Self.withSpoolFixture { _, owner, repository, run, key in
            let recorder = try StepRecorder(repository: repository, logger: TestServers.logger, interval: .seconds(3600))
            let steps = (0..<100).map { Self.step($0, of: run) }
            let withPayload = steps.indices.filter { $0 % 3 != 0 }
            #expect(withPayload.count > 2 * StepRecorder.SealingChunk.maximumPayloads)
            recorder.start(run)
            for (index, step) in steps.enumerated() {
                let payload = withPayload.contains(index) ? PendingPayload(key: key, request: ByteBuffer(string: Self.sentText(index)), response: nil) : nil
                recorder.record(step, payload: payload)
            }
            #expect(await recorder.flush())
            try await Self.expectPayloads(of: withPayload.map { steps[$0] }, readBackAs: withPayload.map(Self.sentText), key: key, owner: owner)
            let (stored, payloads) = try await owner.query(
                "SELECT (SELECT count(*)::int FROM steps WHERE run_id = \(run.id)), (SELECT count(*)::int FROM payloads WHERE run_id = \(run.id))",
                logger: TestServers.logger).firstRow(decoding: (Int, Int).self) ?? (0, 0)
            #expect(stored == 100 && payloads == withPayload.count)
        }
    }

    /// Steps queued while a write is held up are spooled straight from the queue: their payloads too, sealed.
    @Test func aDatabaseSlowerThanTheCallsKeepsTheBufferBoundedAndLosesNothing() async throws {
        try await Self.withSpoolFixture { folder, owner, base, run, key in
            let repository = Slow(base)
            // PostgreSQL answers (no failure, no outage) but its first write is held up.
            let recorder = try StepRecorder(repository: repository, logger: TestServers.logger, interval: .milliseconds(20),
                                            spoolDirectory: folder, memoryLimitBytes: 2_000)
            let loop = Task { try await recorder.run() }
            defer { loop.cancel() }
            recorder.start(run)
            recorder.record(Self.step(0, of: run))
            try await Self.eventually("the first write is under way") { repository.entered.load(ordering: .relaxed) }
            let later = (1..<20).map { Self.step($0, of: run) }
            for step in later {
                recorder.record(step, payload: PendingPayload(key: key, request: ByteBuffer(string: Self.sentText(step.costMicros)), response: nil))
            }
            try await Self.eventually("the queue past its bound is spooled") { !Self.files(in: folder).isEmpty && recorder.pending <= 1 }
            try Self.expectNoPayloadAsSent(in: folder)

            repository.held.store(false, ordering: .relaxed)
            func totals() async throws -> (Int, Int64) {
                try await owner.query("SELECT step_count, cost_micros FROM runs WHERE id = \(run.id)", logger: TestServers.logger)
                    .firstRow(decoding: (Int, Int64).self) ?? (0, 0)
            }
            try await Self.eventually("every step is written") {
                guard Self.files(in: folder).isEmpty else { return false }
                return try await totals().0 == 20
            }
            let (count, cost) = try await totals()
            #expect(count == 20 && cost == (0..<20).reduce(0, +))
            try await Self.expectPayloads(of: later, readBackAs: later.map { Self.sentText($0.costMicros) }, key: key, owner: owner)
        }
    }

    /// SIGTERM while a write hangs (PostgreSQL accepting but not answering): the drain gives up at
    /// its limit — the write under way included — and spools, rather than outlast the orchestrator's
    /// kill and lose the queue.
    @Test func aShutdownWhilePostgreSQLHangsSpoolsWithinItsDrainLimit() async throws {
        try await Self.withSpoolFixture { folder, owner, base, run, _ in
            let repository = Slow(base)
            let recorder = try StepRecorder(repository: repository, logger: TestServers.logger, interval: .milliseconds(20),
                                            spoolDirectory: folder, drainLimit: .seconds(1))
            let group = ServiceGroup(configuration: .init(services: [recorder], logger: Logger(label: "test")))
            let running = Task { try await group.run() }
            recorder.start(run)
            recorder.record(Self.step(0, of: run))
            try await Self.eventually("a write is under way") { repository.entered.load(ordering: .relaxed) }
            for index in 1..<5 { recorder.record(Self.step(index, of: run)) }

            let shutdownBegan = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await running.value
            // The write under way had 15 s left, the old drain 50 retries of it.
            #expect(ContinuousClock.now - shutdownBegan < .seconds(10))
            #expect(!Self.files(in: folder).isEmpty)

            // PostgreSQL answers again; the next start writes the spooled steps, each once.
            repository.held.store(false, ordering: .relaxed)
            let next = try StepRecorder(repository: repository, logger: TestServers.logger, interval: .milliseconds(20), spoolDirectory: folder)
            let restarted = Task { try await next.run() }
            defer { restarted.cancel() }
            try await Self.eventually("the spool is written") {
                guard Self.files(in: folder).isEmpty else { return false }
                return try await owner.query("SELECT step_count FROM runs WHERE id = \(run.id)", logger: TestServers.logger)
                    .first(decoding: Int.self) == 5
            }
            #expect(try await owner.query("SELECT count(*)::int FROM steps WHERE run_id = \(run.id)", logger: TestServers.logger)
                .first(decoding: Int.self) == 5)
        }
    }

    /// A spooled chunk larger than a batch, of many runs: each batch carries only the runs its steps
    /// start (every batch carrying all the chunk's runs made a backlog drain at ~1,500 steps a second),
    /// a run without a step in the chunk goes with the first, and every run ends with its own totals.
    @Test func aSpooledChunkIsWrittenInBatchesEachWithItsOwnRuns() async throws {
        /// Counts the runs each write is given.
        final class Counting: StepRepository {
            let base: any StepRepository
            let runsPerWrite = Mutex<[Int]>([])
            init(_ base: any StepRepository) { self.base = base }
            func insert(_ steps: [StepRecord], runs: [NewRun], events: [OutboxEvent]) async throws {
                try await base.insert(steps, runs: runs, events: events)
                runsPerWrite.withLock { $0.append(runs.count) }
            }
            func steps(runID: UUID, orgID: UUID) async throws -> [JSONValue] { try await base.steps(runID: runID, orgID: orgID) }
        }
        try await Self.withSpoolFixture { folder, owner, base, first, _ in
            let runs = [first] + (1..<6).map { _ in NewRun(id: UUID(), orgID: first.orgID, agentID: first.agentID, policyID: nil, policyVersion: nil) }
            // Steps of runs 0–4 interleaved, seven each; run 5 has none.
            let steps = (0..<35).map { Self.step($0, of: runs[$0 % 5]) }
            let down = Switchable(base)
            let spilling = try StepRecorder(repository: down, logger: TestServers.logger, interval: .milliseconds(20),
                                            spoolDirectory: folder, memoryLimitBytes: 2_000, drainLimit: .seconds(1))
            let loop = Task { try await spilling.run() }
            for run in runs { spilling.start(run) }
            for step in steps { spilling.record(step) }
            try await Self.eventually("the steps are spooled") { !Self.files(in: folder).isEmpty && spilling.pending <= runs.count }
            loop.cancel()
            _ = await loop.result
            let chunks = Self.files(in: folder).count

            let counting = Counting(base)
            let draining = try StepRecorder(repository: counting, logger: TestServers.logger, interval: .milliseconds(20),
                                            batchSize: 10, spoolDirectory: folder)
            let restarted = Task { try await draining.run() }
            defer { restarted.cancel() }
            try await Self.eventually("the spool is written") { Self.files(in: folder).isEmpty }

            let written = counting.runsPerWrite.withLock { $0 }
            #expect(written.count >= 4, "35 steps in batches of 10")
            #expect(written.reduce(0, +) == runs.count * chunks, "each run carried by one batch of its chunk: \(written)")
            for (index, run) in runs.enumerated() {
                let (count, cost) = try await owner.query("SELECT step_count, cost_micros FROM runs WHERE id = \(run.id)", logger: TestServers.logger)
                    .firstRow(decoding: (Int, Int64).self) ?? (-1, Int64(-1))
                let own = steps.filter { $0.runID == run.id }
                #expect(count == own.count && cost == own.reduce(0) { $0 + $1.costMicros }, "run \(index)")
            }
        }
    }
}
