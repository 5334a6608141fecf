import Foundation
import PostgresNIO

/// A run as the APIs show it (the agent's `/v1/runs/{id}` and the control plane's `/api/.../runs`).
public struct Run: Sendable, Equatable {
    public enum Status: String, Sendable { case running, ended, cancelled }

    public var id: UUID
    public var agentID: UUID
    public var status: Status
    public var policyID: UUID?
    public var policyVersion: Int?
    public var metadata: JSONValue
    public var startedAt: Date
    public var endedAt: Date?
    public var stepCount: Int
    public var inputTokens: Int
    public var outputTokens: Int
    public var costMicros: Int64

    /// The columns `init(row:)` reads, in order, for a `SELECT … FROM runs`.
    public static let columns = """
        id, agent_id, status, policy_id, policy_version, metadata::text, started_at, ended_at, step_count, input_tokens, output_tokens, cost_micros
        """

    public init(row: PostgresRow) throws {
        let (id, agentID, status, policyID, policyVersion, metadata, startedAt, endedAt, steps, input, output, cost)
            = try row.decode((UUID, UUID, String, UUID?, Int?, String, Date, Date?, Int, Int, Int, Int64).self)
        self.id = id
        self.agentID = agentID
        self.status = Status(rawValue: status) ?? .running
        self.policyID = policyID
        self.policyVersion = policyVersion
        self.metadata = JSONValue.parse(metadata) ?? [:]
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.stepCount = steps
        self.inputTokens = input
        self.outputTokens = output
        self.costMicros = cost
    }

    public var json: JSONValue {
        [
            "id": .string(id.lowercasedString), "object": "run", "agent_id": .string(agentID.lowercasedString),
            "status": .string(status.rawValue), "metadata": metadata,
            "policy": policyVersion.map { .number(Double($0)) } ?? .null,
            "started_at": .string(startedAt.formatted(.iso8601)), "ended_at": endedAt.map { .string($0.formatted(.iso8601)) } ?? .null,
            "step_count": .number(Double(stepCount)), "input_tokens": .number(Double(inputTokens)),
            "output_tokens": .number(Double(outputTokens)), "cost_micros": .number(Double(costMicros)),
            "cost_usd": .number(Double(costMicros) / 1_000_000),
        ]
    }
}

/// A run's steps as the APIs show them, oldest first.
public enum RunSteps {
    /// A step's kind as every reader shows it: a model call is a `retry` when the run's previous model
    /// call with the same request body failed (the provider errored, timed out, or cut its stream off).
    ///
    /// Derived when read, not when the call is made: the data plane would otherwise have to ask
    /// shared state (Redis) on every call of a run whether the last one failed, for a label. Read
    /// here, the label holds across replicas whatever their timing and whether Redis answered.
    /// A window function, so the query it is used in must see all of the run's steps (filter
    /// outside it). Steps stored as `retry` by earlier versions keep that kind.
    public static let kindColumn = """
        CASE WHEN kind = 'model_call' AND request_fingerprint IS NOT NULL
                  AND lag(status) OVER (PARTITION BY request_fingerprint, kind IN ('model_call', 'retry') ORDER BY created_at, id)
                      IN ('upstream_error', 'timeout', 'incomplete')
             THEN 'retry' ELSE kind END
        """

    public static func list(runID: UUID, orgID: UUID, on connection: PostgresConnection, logger: Logger) async throws -> [JSONValue] {
        let rows = try await connection.query(
            """
            SELECT id, created_at, \(unescaped: kindColumn), endpoint, provider, model, status, http_status, input_tokens, output_tokens,
                   cached_tokens, cost_micros, latency_ms, ttft_ms, rule, policy_version, error_code
            FROM steps WHERE run_id = \(runID) AND org_id = \(orgID) ORDER BY created_at, id
            """, logger: logger)
        var result: [JSONValue] = []
        for try await row in rows {
            let (id, createdAt, kind, endpoint, provider, model, status, httpStatus, input, output, cached, cost, latency, ttft, rule, version, error)
                = try row.decode((UUID, Date, String, String?, String?, String?, String, Int?, Int, Int, Int, Int64, Int?, Int?, String?, Int?, String?).self)
            func optional(_ value: String?) -> JSONValue { value.map { .string($0) } ?? .null }
            func optional(_ value: Int?) -> JSONValue { value.map { .number(Double($0)) } ?? .null }
            result.append([
                "id": .string(id.lowercasedString), "object": "run.step", "created_at": .string(createdAt.formatted(.iso8601)),
                "kind": .string(kind), "endpoint": optional(endpoint), "provider": optional(provider), "model": optional(model),
                "status": .string(status), "http_status": optional(httpStatus),
                "usage": ["input_tokens": .number(Double(input)), "output_tokens": .number(Double(output)), "cached_tokens": .number(Double(cached))],
                "cost_micros": .number(Double(cost)), "latency_ms": optional(latency), "ttft_ms": optional(ttft),
                "rule": optional(rule), "policy_version": optional(version), "error_code": optional(error),
            ])
        }
        return result
    }
}
