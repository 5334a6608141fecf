import AsyncHTTPClient
import Common
import Foundation
import Logging
import Metrics
import NIOCore
import PostgresNIO
import ServiceLifecycle

/// Exports runs as OpenTelemetry traces over OTLP/HTTP (JSON) to the configured collector. It
/// reads what the data plane already wrote (runs and steps in Postgres), so it never sits on an
/// agent's call; it claims runs with `FOR UPDATE SKIP LOCKED` (`rungate_claim_runs_for_trace`),
/// a batch at a time with a bounded number of steps each, so memory stays bounded; ended runs go
/// at once, running ones once idle; steps recorded later follow as more spans of the same trace.
/// A collector that is down loses nothing: the claimed runs' watermarks go back and are retried.
public struct TraceExporter: Service {
    let settings: TraceExportSettings
    let database: Database
    let logger: Logger

    public init(settings: TraceExportSettings, database: Database, logger: Logger) {
        self.settings = settings
        self.database = database
        self.logger = logger
    }

    public func run() async throws {
        let client = OutboundHTTPClient(readTimeout: .seconds(settings.requestTimeout.components.seconds), retryingConnections: false)
        await repeatUntilShutdown(every: settings.pollInterval, deadline: settings.requestTimeout + .seconds(20), logger: logger, failure: "trace export failed") {
            try await runOnce(client: client.client) >= settings.batchRuns
        }
        try await client.client.shutdown()
    }

    /// One batch: claim due runs, send their new spans in one request. Returns the runs exported.
    @discardableResult
    public func runOnce(client: HTTPClient) async throws -> Int {
        guard let endpoint = settings.endpoint else { return 0 }
        let claimed = try await database.client.query(
            "SELECT * FROM rungate_claim_runs_for_trace(\(settings.batchRuns)::integer, \(settings.runIdleSeconds)::integer)", logger: logger
        ).allRows(decoding: (UUID, UUID, Date?, Date?).self)
        guard !claimed.isEmpty else { return 0 }
        var traces: [RunTrace] = []
        /// Runs whose steps did not all fit: their watermark stops at the last step sent.
        var partial: [(UUID, Date)] = []
        do {
            for (runID, orgID, previous, watermark) in claimed {
                let (trace, cut) = try await load(runID: runID, orgID: orgID, after: previous, through: watermark)
                if let trace { traces.append(trace) }
                if let cut { partial.append((runID, cut)) }
            }
            let spans = traces.reduce(0) { $0 + $1.spans.count }
            try await send(RunTrace.request(traces), to: endpoint, client: client)
            Counter(label: "rungate_trace_spans_exported_total").increment(by: spans)
        } catch {
            for (runID, _, previous, _) in claimed {
                _ = try? await database.client.query("SELECT rungate_set_trace_watermark(\(runID), \(previous))", logger: logger)
            }
            Counter(label: "rungate_trace_export_failures_total").increment()
            throw error
        }
        for (runID, cut) in partial {
            try await database.client.query("SELECT rungate_set_trace_watermark(\(runID), \(cut))", logger: logger)
        }
        return claimed.count
    }

    /// The run's steps after `previous` through `watermark` (at most `maxStepsPerRun`), and where
    /// the watermark must stop when more remain.
    private func load(runID: UUID, orgID: UUID, after previous: Date?, through watermark: Date?) async throws -> (RunTrace?, Date?) {
        try await database.withOrg(orgID) { connection in
            var found: Run?
            for try await row in try await connection.query(
                "SELECT \(unescaped: Run.columns) FROM runs WHERE org_id = rungate_current_org() AND id = \(runID)", logger: logger
            ) { found = try Run(row: row) }
            guard let run = found else { return (nil, nil) }
            let rows = try await connection.query(
                """
                SELECT id, created_at, kind, endpoint, provider, model, status, http_status, input_tokens, output_tokens, cost_micros,
                       latency_ms, rule, policy_version, error_code
                FROM (SELECT id, created_at, \(unescaped: RunSteps.kindColumn) AS kind, endpoint, provider, model, status, http_status,
                             input_tokens, output_tokens, cost_micros, latency_ms, rule, policy_version, error_code
                      FROM steps WHERE org_id = rungate_current_org() AND run_id = \(runID) AND created_at <= \(watermark)) AS s
                -- A step's kind depends on the run's earlier steps, exported or not (never on later ones):
                -- the watermark applies inside, the previous part's end only outside.
                WHERE \(previous)::timestamptz IS NULL OR created_at > \(previous)
                ORDER BY created_at, id LIMIT \(settings.maxStepsPerRun + 1)
                """, logger: logger
            ).allRows(decoding: (UUID, Date, String, String?, String?, String?, String, Int?, Int, Int, Int64, Int?, String?, Int?, String?).self)
            var steps = rows.map(RunTrace.Step.init)
            var cut: Date?
            if steps.count > settings.maxStepsPerRun {
                steps = Array(steps.prefix(settings.maxStepsPerRun))
                cut = steps.last?.createdAt
            }
            return (RunTrace(orgID: orgID, run: run, includesRoot: previous == nil, steps: steps), cut)
        }
    }

    private func send(_ body: JSONValue, to endpoint: String, client: HTTPClient) async throws {
        var request = HTTPClientRequest(url: endpoint.hasSuffix("/") ? endpoint + "v1/traces" : endpoint + "/v1/traces")
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        for (name, value) in settings.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: JSONSerializer.bytes(body)))
        let response = try await client.execute(request, timeout: .seconds(settings.requestTimeout.components.seconds))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        guard (200..<300).contains(Int(response.status.code)) else { throw TraceExportRefused(status: Int(response.status.code)) }
    }
}

/// The collector answered something other than 2xx.
struct TraceExportRefused: Error, CustomStringConvertible {
    let status: Int
    var description: String { "the trace collector answered HTTP \(status)" }
}

extension RunTrace.Step {
    init(_ row: (UUID, Date, String, String?, String?, String?, String, Int?, Int, Int, Int64, Int?, String?, Int?, String?)) {
        self.init(id: row.0, createdAt: row.1, kind: row.2, endpoint: row.3, provider: row.4, model: row.5, status: row.6, httpStatus: row.7,
                  inputTokens: row.8, outputTokens: row.9, costMicros: row.10, latencyMilliseconds: row.11, rule: row.12,
                  policyVersion: row.13, errorCode: row.14)
    }
}
