import Common
import Foundation
import NIOCore
import PostgresNIO

/// Writes steps (with the runs they start, their payloads and events) and folds them into their
/// runs' totals, one batch a transaction.
public protocol StepRepository: Sendable {
    func insert(_ steps: [StepRecord], runs: [NewRun], events: [OutboxEvent]) async throws
    /// A run's steps in order, for the agent that owns the run.
    func steps(runID: UUID, orgID: UUID) async throws -> [JSONValue]
}

public struct PostgresStepRepository: StepRepository {
    let database: Database

    public init(database: Database) {
        self.database = database
    }

    public func insert(_ steps: [StepRecord], runs newRuns: [NewRun], events: [OutboxEvent]) async throws {
        guard !newRuns.isEmpty || !steps.isEmpty || !events.isEmpty else { return }
        // The statements are built — thousands of steps' columns gathered and encoded — on the
        // thread pool (or the thread of a recorder catching up): milliseconds of work for a batch,
        // which on an event loop held up every call that loop serves.
        let (runs, outbox) = await ThreadPoolWork.runOrInline { () -> (PostgresQuery?, PostgresQuery?) in
            let outbox = Self.outbox(steps: steps, events: events)
            return (newRuns.isEmpty ? nil : PostgresRunRepository.insertion(of: newRuns, totals: RunTotals.of(steps)),
                    outbox.isEmpty ? nil : Self.insertion(of: outbox))
        }
        let logger = database.logger
        try await database.transaction { connection in
            // A run new in this batch is written with its steps' totals: updating it right after
            // would write the row (and its four indexes) twice.
            let startedHere: Set<UUID> = if let runs { try await PostgresRunRepository.insert(runs, on: connection, logger: logger) } else { [] }
            if let outbox { try await connection.query(outbox, logger: logger) }
            guard !steps.isEmpty else { return }
            let insertion = await ThreadPoolWork.runOrInline { Self.insertion(of: steps, counting: startedHere) }
            try await connection.query(insertion, logger: logger)
        }
    }

    /// The events a batch writes to the outbox: its own, those its steps carry, and a `step.blocked`
    /// for each block, all in the batch's transaction.
    private static func outbox(steps: [StepRecord], events: [OutboxEvent]) -> [OutboxEvent] {
        events + steps.flatMap { step in
            step.events + (step.kind == .block ? [OutboxEvent(orgID: step.orgID, type: .stepBlocked, payload: [
                "step_id": .string(step.id.lowercasedString), "run_id": .string(step.runID.lowercasedString),
                "rule": step.rule.map { .string($0) } ?? .null, "error_code": step.errorCode.map { .string($0) } ?? .null,
                "http_status": step.httpStatus.map { .number(Double($0)) } ?? .null, "model": step.model.map { .string($0) } ?? .null,
            ])] : [])
        }
    }

    /// One statement: the steps, their payloads, and the other runs' totals grown by the steps this
    /// batch actually inserted, so a batch written twice (a retried write whose first attempt
    /// committed late) counts once. `startedHere`: the runs this batch's transaction inserted, with
    /// their steps' totals already (each of their steps is inserted: they had none yet).
    private static func insertion(of steps: [StepRecord], counting startedHere: Set<UUID>) -> PostgresQuery {
        // Arrays bound as parameters and unnested, each column one binary array written in one pass
        // (`PostgresBinaryArray`). Nullable columns travel as sentinels ('' and -1): the arrays have
        // no NULL elements.
        func column<Element: PostgresBinaryArrayElement & Sendable>(_ value: (StepRecord) -> Element) -> PostgresBinaryArray<Element> {
            PostgresBinaryArray(steps.map(value))
        }
        let ids = column(\.id), orgs = column(\.orgID), runs = column(\.runID), times = column(\.createdAt)
        let kinds = column(\.kind.rawValue), endpoints = column(\.endpoint), providers = column { $0.provider ?? "" }
        let models = column { $0.model ?? "" }, statuses = column(\.status), httpStatuses = column { $0.httpStatus ?? -1 }
        let inputs = column(\.usage.input), outputs = column(\.usage.output), cached = column(\.usage.cachedInput)
        let costs = column(\.costMicros), latencies = column { $0.latencyMilliseconds ?? -1 }
        let ttfts = column { $0.timeToFirstTokenMilliseconds ?? -1 }, rules = column { $0.rule ?? "" }
        let versions = column { $0.policyVersion ?? -1 }, errors = column { $0.errorCode ?? "" }
        let fingerprints = column { $0.requestFingerprint ?? "" }
        // The existence checks look up only this batch's ids: written as plain semi-joins (or with
        // `= ANY` of the batch's runs), the planner scanned the whole runs and steps tables for
        // every batch — at 42 k rows, 80 of the 100 ms the two statements took, growing with the tables.
        let counted = PostgresBinaryArray(Array(startedHere)), batchRuns = PostgresBinaryArray(Array(Set(runs.elements)))
        let sealed = steps.compactMap { step in step.payload.map { (step, $0) } }
        // A missing response travels as an empty array.
        let payloadSteps = PostgresBinaryArray(sealed.map(\.0.id)), payloadOrgs = PostgresBinaryArray(sealed.map(\.0.orgID))
        let payloadRuns = PostgresBinaryArray(sealed.map(\.0.runID)), payloadTimes = PostgresBinaryArray(sealed.map(\.0.createdAt))
        let payloadKeys = PostgresBinaryArray(sealed.map(\.1.dataKeyID))
        let requests = PostgresBinaryArray(sealed.map(\.1.request)), responses = PostgresBinaryArray(sealed.map { $0.1.response ?? [] })
        let compressions = PostgresBinaryArray(sealed.map { $0.1.compression?.rawValue ?? "" })
        return """
            WITH inserted AS (
            INSERT INTO steps (id, org_id, run_id, created_at, kind, endpoint, provider, model, status, http_status,
                               input_tokens, output_tokens, cached_tokens, cost_micros, latency_ms, ttft_ms, rule,
                               policy_version, error_code, request_fingerprint)
            SELECT id, org_id, run_id, created_at, kind, endpoint, NULLIF(provider, ''), NULLIF(model, ''), status,
                   NULLIF(http_status, -1), input_tokens, output_tokens, cached_tokens, cost_micros, NULLIF(latency_ms, -1),
                   NULLIF(ttft_ms, -1), NULLIF(rule, ''), NULLIF(policy_version, -1), NULLIF(error_code, ''),
                   NULLIF(request_fingerprint, '')
            FROM unnest(\(ids)::uuid[], \(orgs)::uuid[], \(runs)::uuid[], \(times)::timestamptz[], \(kinds)::text[],
                        \(endpoints)::text[], \(providers)::text[], \(models)::text[], \(statuses)::text[], \(httpStatuses)::int[],
                        \(inputs)::int[], \(outputs)::int[], \(cached)::int[], \(costs)::bigint[], \(latencies)::int[],
                        \(ttfts)::int[], \(rules)::text[], \(versions)::int[], \(errors)::text[], \(fingerprints)::text[])
              AS s(id, org_id, run_id, created_at, kind, endpoint, provider, model, status, http_status, input_tokens,
                   output_tokens, cached_tokens, cost_micros, latency_ms, ttft_ms, rule, policy_version, error_code,
                   request_fingerprint)
            -- A run deleted meanwhile (its org purged) takes its late steps with it rather than
            -- failing every batch after it.
            -- (LIMIT keeps the lookup a probe of the primary key per run of the batch.)
            WHERE s.run_id IN (SELECT r.id FROM unnest(\(batchRuns)::uuid[]) AS b(id),
                               LATERAL (SELECT id FROM runs WHERE runs.id = b.id LIMIT 1) r)
            ON CONFLICT DO NOTHING
            RETURNING id, run_id, input_tokens, output_tokens, cost_micros, created_at
            ), stored AS (
            -- Payloads of the steps inserted here (a step already there has its payload already).
            INSERT INTO payloads (step_id, org_id, run_id, created_at, data_key_id, request_ciphertext, response_ciphertext,
                                  compression)
            SELECT p.step_id, p.org_id, p.run_id, p.created_at, p.data_key_id, p.request, NULLIF(p.response, ''::bytea),
                   NULLIF(p.compression, '')
            FROM unnest(\(payloadSteps)::uuid[], \(payloadOrgs)::uuid[], \(payloadRuns)::uuid[], \(payloadTimes)::timestamptz[],
                        \(payloadKeys)::uuid[], \(requests)::bytea[], \(responses)::bytea[], \(compressions)::text[])
              AS p(step_id, org_id, run_id, created_at, data_key_id, request, response, compression)
            JOIN inserted i ON i.id = p.step_id
            ON CONFLICT DO NOTHING
            )
            UPDATE runs r SET step_count = r.step_count + t.steps, input_tokens = r.input_tokens + t.input,
                   output_tokens = r.output_tokens + t.output, cost_micros = r.cost_micros + t.cost,
                   last_step_at = GREATEST(r.last_step_at, t.last)
            FROM (SELECT run_id, count(*) AS steps, sum(input_tokens) AS input, sum(output_tokens) AS output, sum(cost_micros) AS cost,
                         max(created_at) AS last
                  FROM inserted GROUP BY run_id) t
            -- NOT IN a subquery is one hashed lookup per run (= ANY of an array compared each
            -- run with every run inserted above); the array holds no NULL.
            WHERE r.id = t.run_id AND t.run_id NOT IN (SELECT unnest(\(counted)::uuid[]))
            """
    }

    /// Events for the outbox, kept only for orgs with an active webhook subscribed to their type
    /// (nothing else reads them: an event no one listens to would only be fanned out to no one).
    private static func insertion(of events: [OutboxEvent]) -> PostgresQuery {
        let orgs = PostgresBinaryArray(events.map(\.orgID)), types = PostgresBinaryArray(events.map(\.type.rawValue))
        let payloads = PostgresBinaryArray(events.map { $0.payload.jsonb })
        return """
            INSERT INTO events (org_id, type, payload)
            SELECT e.org_id, e.type, e.payload::jsonb FROM unnest(\(orgs)::uuid[], \(types)::text[], \(payloads)::text[]) AS e(org_id, type, payload)
            WHERE EXISTS (SELECT 1 FROM webhooks w WHERE w.org_id = e.org_id AND w.active AND e.type = ANY (w.events))
            """
    }

    public func steps(runID: UUID, orgID: UUID) async throws -> [JSONValue] {
        let logger = database.logger
        return try await database.withConnection { connection in
            try await RunSteps.list(runID: runID, orgID: orgID, on: connection, logger: logger)
        }
    }
}
