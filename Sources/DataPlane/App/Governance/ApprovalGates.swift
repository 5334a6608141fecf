import Common
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO

/// A tool call a model proposed (or an agent asks to run), as approval gates see it.
struct ProposedToolCall: Sendable, Equatable {
    let name: String
    let arguments: JSONValue

    var json: JSONValue { ["tool": .string(name), "arguments": arguments] }
}

/// What an earlier approval request says about a repeated call.
enum ApprovalState: Sendable {
    case pending(id: UUID, rule: String, proposed: JSONValue)
    case approved(id: UUID, held: (keyID: UUID, ciphertext: ByteBuffer)?)
    case rejected(id: UUID, reason: String?)
}

/// Approval gates (`tools.require_approval`): matching proposed tool calls, and the `approvals`
/// rows that hold a call until a person decides. A request is bound to its run, its body digest
/// and its policy version; an approval is consumed once.
struct ApprovalGates: Sendable {
    let database: Database
    let timeToLive: Duration

    /// The first gate a tool call falls under: (rule path, call).
    static func match(_ calls: [ProposedToolCall], policy: ActivePolicy) -> (rule: String, call: ProposedToolCall)? {
        guard let gates = policy.rules.tools?.requireApproval else { return nil }
        for call in calls {
            for (index, gate) in gates.enumerated() where gate.tool.matches(call.name) {
                let matchers = gate.arguments ?? [:]
                let allMatch = matchers.allSatisfy { name, pattern in
                    guard let value = call.arguments[name] else { return false }
                    let text = value.stringValue ?? String(decoding: JSONSerializer.bytes(value), as: UTF8.self)
                    return text.range(of: pattern, options: .regularExpression) != nil
                }
                if allMatch { return ("tools.require_approval[\(index)]", call) }
            }
        }
        return nil
    }

    /// Whether a request offers a tool some gate names (used to refuse streams under gates);
    /// `tools`: the request's `PolicyEvaluator.toolNames(in:)`.
    static func offersGatedTool(_ tools: [String], policy: ActivePolicy) -> Bool {
        guard let gates = policy.rules.tools?.requireApproval, !gates.isEmpty else { return false }
        return tools.contains { name in gates.contains { $0.tool.matches(name) } }
    }

    /// Tool calls in a provider's answer: OpenAI chat `tool_calls`, Responses `function_call` items,
    /// Anthropic `tool_use` blocks.
    static func proposedCalls(in answer: JSONValue) -> [ProposedToolCall] {
        func arguments(_ text: String?) -> JSONValue {
            text.flatMap(JSONValue.parse) ?? .object([:])
        }
        var calls: [ProposedToolCall] = []
        if case .array(let choices)? = answer["choices"] {
            for choice in choices {
                if case .array(let toolCalls)? = choice["message"]?["tool_calls"] {
                    calls += toolCalls.compactMap { call in
                        call["function"]?["name"]?.stringValue.map { ProposedToolCall(name: $0, arguments: arguments(call["function"]?["arguments"]?.stringValue)) }
                    }
                }
            }
        }
        if case .array(let output)? = answer["output"] {
            calls += output.filter { $0["type"] == "function_call" }.compactMap { item in
                item["name"]?.stringValue.map { ProposedToolCall(name: $0, arguments: arguments(item["arguments"]?.stringValue)) }
            }
        }
        if case .array(let content)? = answer["content"] {
            calls += content.filter { $0["type"] == "tool_use" }.compactMap { block in
                block["name"]?.stringValue.map { ProposedToolCall(name: $0, arguments: block["input"] ?? .object([:])) }
            }
        }
        return calls
    }

    /// The latest live approval request for this run and request digest.
    func state(runID: UUID, orgID: UUID, digest: String, policyVersion: Int?) async throws -> ApprovalState? {
        // A pending request past its expiry is closed first, so it no longer holds the call.
        try await database.query(
            "UPDATE approvals SET status = 'expired' WHERE run_id = \(runID) AND body_digest = \(digest) AND status = 'pending' AND expires_at <= now()")
        guard let (id, status, reason, keyID, held, rule, proposed) = try await database.query(
            """
            SELECT id, status, reason, data_key_id, held_response_ciphertext, rule, proposed_action::text FROM approvals
            WHERE run_id = \(runID) AND org_id = \(orgID) AND body_digest = \(digest)
              AND policy_version IS NOT DISTINCT FROM \(policyVersion)
              AND status IN ('pending', 'approved', 'rejected') AND (status = 'rejected' OR expires_at > now())
            ORDER BY created_at DESC LIMIT 1
            """, { try await $0.firstRow(decoding: (UUID, String, String?, UUID?, ByteBuffer?, String, String).self) }) else { return nil }
        switch status {
        case "pending": return .pending(id: id, rule: rule, proposed: JSONValue.parse(proposed) ?? .null)
        case "approved": return .approved(id: id, held: keyID.flatMap { key in held.map { (key, $0) } })
        default: return .rejected(id: id, reason: reason)
        }
    }

    /// Marks an approval used; false when another retry already took it.
    func consume(_ id: UUID) async throws -> Bool {
        try await database.query(
            "UPDATE approvals SET status = 'consumed', consumed_at = now() WHERE id = \(id) AND status = 'approved' RETURNING id"
        ) { try await $0.first(decoding: UUID.self) } != nil
    }

    /// Opens an approval request, holding `response` (sealed) when there is one, and queues its
    /// `approval.requested` event in the same statement (the outbox: both or neither).
    func request(
        principal: AgentPrincipal, runID: UUID, policy: ActivePolicy, rule: String, digest: String, call: ProposedToolCall,
        endpoint: String, held: (keyID: UUID, ciphertext: [UInt8])?
    ) async throws -> (id: UUID, expiresAt: Date) {
        let expiresAt = Date().addingTimeInterval(TimeInterval(timeToLive.components.seconds))
        var proposed = call.json
        if case .object(var object) = proposed { object["endpoint"] = .string(endpoint); proposed = .object(object) }
        let event: JSONValue = [
            "run_id": .string(runID.lowercasedString), "agent_id": .string(principal.agentID.lowercasedString),
            "rule": .string(rule), "proposed_action": proposed, "expires_at": .string(expiresAt.formatted(.iso8601)),
            "policy": .string(policy.reference),
        ]
        let id = try await database.query(
            """
            WITH approval AS (
                INSERT INTO approvals (org_id, run_id, agent_id, rule, policy_id, policy_version, body_digest, proposed_action,
                                       data_key_id, held_response_ciphertext, expires_at)
                VALUES (\(principal.orgID), \(runID), \(principal.agentID), \(rule), \(policy.policyID), \(policy.version), \(digest),
                        \(proposed.jsonb)::jsonb, \(held?.keyID), \(held.map { ByteBuffer(bytes: $0.ciphertext) }), \(expiresAt))
                RETURNING id
            ), event AS (
                INSERT INTO events (org_id, type, payload)
                SELECT \(principal.orgID), \(EventType.approvalRequested.rawValue), \(event.jsonb)::jsonb || jsonb_build_object('approval_id', approval.id)
                FROM approval
            )
            SELECT id FROM approval
            """) { try await $0.first(decoding: UUID.self) }!
        return (id, expiresAt)
    }

    /// The 202 an agent gets while its call waits for a person.
    static func pendingResponse(id: UUID, rule: String, policy: ActivePolicy, proposed: JSONValue, orgID: UUID, runHeader: HTTPFields) -> Response {
        var headers = runHeader
        headers[.rungateStatus] = "pending_approval"
        headers[.retryAfter] = "5"
        headers[.rungateApprovalID] = id.lowercasedString
        let body: JSONValue = [
            "object": "rungate.approval", "id": .string(id.lowercasedString), "status": "pending_approval",
            "rule": RuleMatch(rule: rule, policy: policy.name, policyVersion: policy.version).json,
            "proposed_action": proposed,
            "status_url": .string("/api/orgs/\(orgID.lowercasedString)/approvals/\(id.lowercasedString)"),
            "message": "This call proposes a tool call that needs a person's approval. Retry the same request (same run, same body) to get the answer once approved.",
        ]
        return jsonResponse(.accepted, body, headers: headers)
    }
}

extension HTTPField.Name {
    static let rungateStatus = HTTPField.Name("x-rungate-status")!
    static let rungateApprovalID = HTTPField.Name("x-rungate-approval-id")!
}
