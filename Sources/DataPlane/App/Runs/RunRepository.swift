import Common
import Foundation
import PostgresNIO

/// Whether `RunRepository.resolve` waits for a run it creates to reach the disk.
public enum RunCreationCommit: Sendable {
    /// The commit waits for the write-ahead log's flush (an explicit start, answered with the run).
    case flushed
    /// The commit does not wait (`synchronous_commit` off, for that transaction alone): the run is
    /// visible to every other transaction at once, as with `flushed`; the caller writes it again,
    /// durably, with its first step's batch — a no-op, unless a PostgreSQL crash in the moment
    /// after lost it. On this box the flush was ~1.3 ms of a first call's ~3 ms (bench/RESULTS.md).
    case rewrittenWithSteps
}

/// Runs as the data plane reads and writes them. Every query is scoped to the calling agent, so
/// another agent's or org's run id behaves exactly like one that does not exist.
public protocol RunRepository: Sendable {
    /// The run `id` of this agent, created on first use (under `policy`, else the agent's pin);
    /// a new id when `id` is nil.
    func resolve(id: UUID?, principal: AgentPrincipal, policy: (id: UUID, version: Int)?, metadata: JSONValue,
                 commit: RunCreationCommit) async throws -> RunHandle
    func get(id: UUID, principal: AgentPrincipal) async throws -> Run?
    /// Writes a run started by a call on this replica, unless it exists already.
    func create(_ run: NewRun) async throws
    /// Ends a running run; returns the run as it is afterwards (nil when not found).
    func end(id: UUID, principal: AgentPrincipal) async throws -> Run?
}

public struct PostgresRunRepository: RunRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func resolve(id: UUID?, principal: AgentPrincipal, policy: (id: UUID, version: Int)?, metadata: JSONValue,
                        commit: RunCreationCommit) async throws -> RunHandle {
        let runID = id ?? UUID.timeOrdered()
        let policyID = policy?.id ?? principal.policyID, policyVersion = policy?.version ?? principal.policyVersion
        // One round trip: insert if new, else read the existing run, only if it is this agent's.
        // When calls race to create the same run, the loser's INSERT waits for the winner, but its
        // statement's snapshot predates the winner's commit and sees no row: a second attempt does.
        for _ in 0..<2 {
            if let handle = try await attemptResolve(runID: runID, principal: principal, policyID: policyID, policyVersion: policyVersion,
                                                     metadata: metadata, commit: commit) {
                return handle
            }
        }
        throw RungateError.notFound("Run \(runID.lowercasedString)")
    }

    private func attemptResolve(runID: UUID, principal: AgentPrincipal, policyID: UUID?, policyVersion: Int?, metadata: JSONValue,
                                commit: RunCreationCommit) async throws -> RunHandle? {
        let statement = ResolveRun(runID: runID, orgID: principal.orgID, agentID: principal.agentID, policyID: policyID,
                                   policyVersion: policyVersion, metadata: metadata.jsonb,
                                   synchronousCommit: commit == .rewrittenWithSteps ? "off" : nil)
        for try await (status, created, policyID, policyVersion, steps, tokens) in try await database.client.execute(statement, logger: database.logger) {
            return RunHandle(id: runID, status: Run.Status(rawValue: status) ?? .running, created: created, policyID: policyID,
                             policyVersion: policyVersion, stepCount: steps, tokens: tokens)
        }
        return nil
    }

    /// Insert if new, else read the existing run, only if it is this agent's — prepared once per
    /// connection: the first call of every run an agent names itself runs it, and parsing and
    /// planning this statement cost PostgreSQL more than executing it (~0.8 of ~1.1 ms, bench/RESULTS.md).
    struct ResolveRun: PostgresPreparedStatement {
        static let name = "rungate_resolve_run_v2"
        // $7: this transaction's `synchronous_commit` ('off'), or NULL to keep the server's. Set in
        // the insert's one source row, so it is set whenever a run is inserted.
        static let sql = """
            WITH inserted AS (
                INSERT INTO runs (id, org_id, agent_id, policy_id, policy_version, metadata)
                SELECT $1, $2, $3, $4, $5, $6::jsonb
                FROM (SELECT set_config('synchronous_commit', COALESCE($7, current_setting('synchronous_commit')), true)) AS commit_mode
                ON CONFLICT (id) DO NOTHING
                RETURNING status, true AS created, policy_id, policy_version, step_count, input_tokens + output_tokens
            ), announced AS (
                INSERT INTO events (org_id, type, payload)
                SELECT $2, 'run.started', jsonb_build_object('run_id', $1::uuid, 'agent_id', $3::uuid, 'policy_version', policy_version,
                                                             'metadata', $6::jsonb)
                FROM inserted
                WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.org_id = $2 AND w.active AND 'run.started' = ANY (w.events))
            )
            SELECT * FROM inserted
            UNION ALL
            SELECT status, false, policy_id, policy_version, step_count, input_tokens + output_tokens FROM runs
            WHERE id = $1 AND org_id = $2 AND agent_id = $3 AND NOT EXISTS (SELECT 1 FROM inserted)
            """
        static let bindingDataTypes: [PostgresDataType] = [.uuid, .uuid, .uuid, .uuid, .int8, .text, .text]
        typealias Row = (String, Bool, UUID?, Int?, Int, Int)

        let runID: UUID, orgID: UUID, agentID: UUID, policyID: UUID?, policyVersion: Int?, metadata: String, synchronousCommit: String?

        func makeBindings() throws -> PostgresBindings {
            var bindings = PostgresBindings(capacity: 7)
            bindings.append(runID)
            bindings.append(orgID)
            bindings.append(agentID)
            bindings.append(policyID)
            bindings.append(policyVersion)
            bindings.append(metadata)
            bindings.append(synchronousCommit)
            return bindings
        }

        func decodeRow(_ row: PostgresRow) throws -> Row {
            try row.decode(Row.self)
        }
    }

    public func create(_ run: NewRun) async throws {
        let logger = database.logger
        _ = try await database.withConnection { connection in
            try await Self.insert([run], on: connection, logger: logger)
        }
    }

    /// Runs started by calls, each announced by `run.started` when it is new and an org webhook listens.
    /// A run another replica (or an explicit start) created first is left as it is. A new run starts
    /// with `totals` (its steps in the same batch), so it is not updated again right after; the ids
    /// of the runs this inserted are returned (the others get their steps' totals by update).
    @discardableResult
    public static func insert(_ runs: [NewRun], totals: [UUID: RunTotals] = [:], on connection: PostgresConnection, logger: Logger) async throws -> Set<UUID> {
        try await insert(insertion(of: runs, totals: totals), on: connection, logger: logger)
    }

    /// Runs `insertion(of:totals:)`'s statement; the ids of the runs it inserted.
    static func insert(_ insertion: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> Set<UUID> {
        // One row of one array: a row per run (up to a batch's 2,000) cost the data plane ~4 K
        // instructions each to receive and decode, on the event loops that serve calls.
        Set(try await connection.query(insertion, logger: logger).first(decoding: [UUID].self) ?? [])
    }

    /// The statement `insert(_:totals:on:logger:)` runs, its arrays encoded: built apart so a batch
    /// of thousands is encoded off the event loops (`PostgresStepRepository`).
    static func insertion(of runs: [NewRun], totals: [UUID: RunTotals]) -> PostgresQuery {
        // Each column one binary array, written in one pass (`PostgresBinaryArray`).
        let ids = PostgresBinaryArray(runs.map(\.id)), orgs = PostgresBinaryArray(runs.map(\.orgID))
        let agents = PostgresBinaryArray(runs.map(\.agentID)), started = PostgresBinaryArray(runs.map(\.startedAt))
        // No NULL elements: no policy travels as the nil UUID and version -1.
        let policies = PostgresBinaryArray(runs.map { $0.policyID ?? NewRun.noPolicy })
        let versions = PostgresBinaryArray(runs.map { $0.policyVersion ?? -1 })
        let starting = runs.map { totals[$0.id] ?? RunTotals() }
        let stepCounts = PostgresBinaryArray(starting.map(\.steps)), inputs = PostgresBinaryArray(starting.map(\.input))
        let outputs = PostgresBinaryArray(starting.map(\.output)), costs = PostgresBinaryArray(starting.map(\.cost))
        let lastSteps = PostgresBinaryArray(zip(starting, runs).map { $0.last ?? $1.startedAt })
        let batchAgents = PostgresBinaryArray(Array(Set(agents.elements)))
        return """
            WITH inserted AS (
                INSERT INTO runs (id, org_id, agent_id, policy_id, policy_version, started_at, step_count, input_tokens, output_tokens,
                                  cost_micros, last_step_at)
                SELECT n.id, n.org_id, n.agent_id, NULLIF(n.policy_id, '00000000-0000-0000-0000-000000000000'::uuid),
                       NULLIF(n.policy_version, -1), n.started_at, n.step_count, n.input_tokens, n.output_tokens, n.cost_micros,
                       CASE WHEN n.step_count > 0 THEN n.last_step_at END
                FROM unnest(\(ids)::uuid[], \(orgs)::uuid[], \(agents)::uuid[], \(policies)::uuid[], \(versions)::int[],
                            \(started)::timestamptz[], \(stepCounts)::int[], \(inputs)::bigint[], \(outputs)::bigint[], \(costs)::bigint[],
                            \(lastSteps)::timestamptz[])
                  AS n(id, org_id, agent_id, policy_id, policy_version, started_at, step_count, input_tokens, output_tokens, cost_micros,
                       last_step_at)
                -- An agent deleted meanwhile: its run (and so its steps) is not written. Looked up by
                -- a primary-key probe per agent of the batch (LIMIT keeps it one): as a plain semi-join
                -- the planner may hash every org's agents for each batch.
                WHERE (n.org_id, n.agent_id) IN (SELECT a.org_id, a.id FROM unnest(\(batchAgents)::uuid[]) AS b(id),
                                                 LATERAL (SELECT org_id, id FROM agents WHERE agents.id = b.id LIMIT 1) a)
                ON CONFLICT (id) DO NOTHING
                RETURNING id, org_id, agent_id, policy_version
            ), announced AS (
                INSERT INTO events (org_id, type, payload)
                SELECT i.org_id, 'run.started', jsonb_build_object('run_id', i.id, 'agent_id', i.agent_id, 'policy_version', i.policy_version,
                                                                  'metadata', '{}'::jsonb)
                FROM inserted i
                WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.org_id = i.org_id AND w.active AND 'run.started' = ANY (w.events))
            )
            SELECT COALESCE(array_agg(id), '{}') FROM inserted
            """
    }

    public func get(id: UUID, principal: AgentPrincipal) async throws -> Run? {
        try await first(database.client.query(
            """
            SELECT \(unescaped: Run.columns)
            FROM runs WHERE id = \(id) AND org_id = \(principal.orgID) AND agent_id = \(principal.agentID)
            """, logger: database.logger))
    }

    public func end(id: UUID, principal: AgentPrincipal) async throws -> Run? {
        try await database.client.query(
            """
            WITH ended AS (
                UPDATE runs SET status = 'ended', ended_at = now()
                WHERE id = \(id) AND org_id = \(principal.orgID) AND agent_id = \(principal.agentID) AND status = 'running'
                RETURNING id, agent_id, step_count, cost_micros
            )
            INSERT INTO events (org_id, type, payload)
            SELECT \(principal.orgID), 'run.ended', jsonb_build_object('run_id', id, 'agent_id', agent_id, 'reason', 'ended',
                                                                     'step_count', step_count, 'cost_micros', cost_micros)
            FROM ended
            WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.org_id = \(principal.orgID) AND w.active AND 'run.ended' = ANY (w.events))
            """, logger: database.logger)
        return try await get(id: id, principal: principal)
    }

    private func first(_ rows: PostgresRowSequence) async throws -> Run? {
        for try await row in rows { return try Run(row: row) }
        return nil
    }
}
