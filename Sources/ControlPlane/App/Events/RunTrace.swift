import Common
import Crypto
import Foundation

/// A run as an OpenTelemetry trace in OTLP/JSON: the run is the root span, each step a child span
/// with the GenAI semantic-convention attributes (`gen_ai.system`, `gen_ai.operation.name`,
/// `gen_ai.request.model`, `gen_ai.usage.*`) and Rungate's own (cost, decision, rule). Ids are
/// derived from the run's and steps' ids, so a run exported in several parts stays one trace.
struct RunTrace: Sendable {
    struct Step: Sendable {
        let id: UUID
        let createdAt: Date
        let kind: String
        let endpoint: String?
        let provider: String?
        let model: String?
        let status: String
        let httpStatus: Int?
        let inputTokens: Int
        let outputTokens: Int
        let costMicros: Int64
        let latencyMilliseconds: Int?
        let rule: String?
        let policyVersion: Int?
        let errorCode: String?
    }

    let orgID: UUID
    let run: Run
    /// Whether the root span is part of this export (the first export of the run).
    let includesRoot: Bool
    let steps: [Step]

    /// The trace id: the run id's 16 bytes.
    var traceID: String { Self.bytes(run.id).hexString }
    /// The root span's id: the run id's last 8 bytes.
    var rootSpanID: String { Array(Self.bytes(run.id).suffix(8)).hexString }

    static func spanID(of step: UUID) -> String {
        Array(SHA256.hash(data: bytes(step)).prefix(8)).hexString
    }

    var spans: [JSONValue] {
        var spans: [JSONValue] = []
        if includesRoot {
            let end = run.endedAt ?? steps.map { $0.createdAt.addingTimeInterval(Double($0.latencyMilliseconds ?? 0) / 1000) }.max() ?? run.startedAt
            spans.append(Self.span(
                trace: traceID, id: rootSpanID, parent: nil, name: "invoke_agent \(run.agentID.lowercasedString)", kind: 1,
                start: run.startedAt, end: max(end, run.startedAt), failed: run.status == .cancelled ? "cancelled" : nil,
                attributes: [
                    ("gen_ai.operation.name", .string("invoke_agent")), ("gen_ai.agent.id", .string(run.agentID.lowercasedString)),
                    ("rungate.org_id", .string(orgID.lowercasedString)), ("rungate.run_id", .string(run.id.lowercasedString)),
                    ("rungate.run.status", .string(run.status.rawValue)), ("rungate.run.step_count", .int(run.stepCount)),
                    ("gen_ai.usage.input_tokens", .int(run.inputTokens)), ("gen_ai.usage.output_tokens", .int(run.outputTokens)),
                    ("rungate.cost_micros", .int(Int(run.costMicros))), ("rungate.policy_version", run.policyVersion.map { .int($0) }),
                ]))
        }
        for step in steps {
            let operation = Self.operation(step)
            let failed = ["ok", "approved", "held_for_approval", "allowed"].contains(step.status) ? nil : step.errorCode ?? step.status
            spans.append(Self.span(
                trace: traceID, id: Self.spanID(of: step.id), parent: rootSpanID,
                name: step.kind == "block" ? "rungate.block \(step.rule ?? "")" : "\(operation) \(step.model ?? "")".trimmingCharacters(in: .whitespaces),
                kind: step.kind == "model_call" || step.kind == "retry" ? 3 : 1,
                start: step.createdAt, end: step.createdAt.addingTimeInterval(Double(step.latencyMilliseconds ?? 0) / 1000), failed: failed,
                attributes: [
                    ("gen_ai.operation.name", .string(operation)), ("gen_ai.system", step.provider.map { .string($0) }),
                    ("gen_ai.request.model", step.model.map { .string($0) }),
                    ("gen_ai.usage.input_tokens", .int(step.inputTokens)), ("gen_ai.usage.output_tokens", .int(step.outputTokens)),
                    ("rungate.step_id", .string(step.id.lowercasedString)), ("rungate.step.kind", .string(step.kind)),
                    ("rungate.decision", .string(step.status)), ("rungate.rule", step.rule.map { .string($0) }),
                    ("rungate.cost_micros", .int(Int(step.costMicros))), ("rungate.policy_version", step.policyVersion.map { .int($0) }),
                    ("http.response.status_code", step.httpStatus.map { .int($0) }), ("error.type", step.errorCode.map { .string($0) }),
                ]))
        }
        return spans
    }

    /// The GenAI operation of a step: `chat`, `embeddings`, `execute_tool`, or Rungate's own.
    static func operation(_ step: Step) -> String {
        switch step.kind {
        case "tool_call": "execute_tool"
        case "approval": "rungate.approval"
        case "block": "rungate.block"
        default: step.endpoint == "/v1/embeddings" ? "embeddings" : "chat"
        }
    }

    enum Value {
        case string(String)
        case int(Int)

        var json: JSONValue {
            switch self {
            case .string(let value): ["stringValue": .string(value)]
            // OTLP/JSON carries 64-bit integers as strings.
            case .int(let value): ["intValue": .string(String(value))]
            }
        }
    }

    static func span(trace: String, id: String, parent: String?, name: String, kind: Int, start: Date, end: Date, failed: String?,
                     attributes: [(String, Value?)]) -> JSONValue {
        var span: [String: JSONValue] = [
            "traceId": .string(trace), "spanId": .string(id), "name": .string(name), "kind": .number(Double(kind)),
            "startTimeUnixNano": .string(nanos(start)), "endTimeUnixNano": .string(nanos(end)),
            "attributes": .array(attributes.compactMap { key, value in value.map { ["key": .string(key), "value": $0.json] } }),
            "status": failed.map { ["code": 2, "message": .string($0)] } ?? ["code": 1],
        ]
        if let parent { span["parentSpanId"] = .string(parent) }
        return .object(span)
    }

    /// One OTLP `ExportTraceServiceRequest` for runs of possibly many orgs (a resource per org).
    static func request(_ traces: [RunTrace]) -> JSONValue {
        let byOrg = Dictionary(grouping: traces, by: \.orgID)
        return ["resourceSpans": .array(byOrg.keys.sorted { $0.uuidString < $1.uuidString }.map { orgID in
            [
                "resource": ["attributes": [
                    ["key": "service.name", "value": ["stringValue": "rungate"]],
                    ["key": "rungate.org_id", "value": ["stringValue": .string(orgID.lowercasedString)]],
                ]],
                "scopeSpans": [["scope": ["name": "rungate", "version": "1"], "spans": .array(byOrg[orgID]!.flatMap(\.spans))]],
            ]
        })]
    }

    private static func nanos(_ date: Date) -> String {
        String(UInt64(max(date.timeIntervalSince1970, 0) * 1_000_000) * 1000)
    }

    private static func bytes(_ id: UUID) -> [UInt8] {
        withUnsafeBytes(of: id.uuid) { Array($0) }
    }
}
