import Common
import Crypto
import Foundation
import Hummingbird

/// `POST /v1/runs/{id}/tool-calls`: an agent asks before it runs a tool itself. 200 allowed (or
/// approved), 202 pending a person's decision, 403 denied (blocked tool, or rejected) — with the same
/// retry semantics as a held model call: ask again with the same tool and arguments.
struct ToolCallRoutes: Sendable {
    let authenticator: AgentAuthenticator
    let runs: any RunRepository
    let directory: RunDirectory
    let policies: PolicyStore
    let approvals: ApprovalGates
    let maxBodyBytes: Int

    func add(to router: Router<RungateRequestContext>) {
        router.post("/v1/runs/:id/tool-calls") { request, context in try await ask(request, context) }
    }

    private func ask(_ request: Request, _ context: RungateRequestContext) async throws -> Response {
        let principal = try await authenticator.authenticate(request)
        guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else { throw RungateError.notFound("Run") }
        try await directory.ensureWritten(id)  // a run this replica started moments ago may not be written yet
        guard let run = try await runs.get(id: id, principal: principal) else { throw RungateError.notFound("Run") }
        let runHeader: HTTPFields = [.rungateRunID: id.lowercasedString]
        guard run.status == .running else {
            throw RungateError(.conflict, code: "run_\(run.status.rawValue)", message: "The run is \(run.status.rawValue).",
                               recovery: "Start a new run.", rule: RuleMatch(rule: "run.state"), headers: runHeader)
        }
        let body = try await request.body.collect(upTo: maxBodyBytes)
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: body), let tool = json["tool"]?.stringValue, !tool.isEmpty else {
            throw RungateError.badRequest("The body must be {\"tool\": \"name\", \"arguments\": {...}}.")
        }
        let call = ProposedToolCall(name: tool, arguments: json["arguments"] ?? .object([:]))
        let allowed: JSONValue = ["object": "rungate.tool_call_decision", "decision": "allowed", "tool": .string(tool)]
        guard let policyID = run.policyID, let version = run.policyVersion,
              let policy = try await policies.policy(id: policyID, version: version, orgID: principal.orgID)
        else { return jsonResponse(.ok, allowed, headers: runHeader) }
        if let index = policy.rules.tools?.deny?.firstIndex(where: { $0.matches(tool) }) {
            throw RungateError(.forbidden, code: "tool_denied", message: "The tool `\(tool)` is blocked by policy \(policy.reference).",
                               recovery: "Do not run it.", rule: RuleMatch(rule: "tools.deny[\(index)]", policy: policy.name, policyVersion: policy.version),
                               headers: runHeader)
        }
        guard let (rule, _) = ApprovalGates.match([call], policy: policy) else { return jsonResponse(.ok, allowed, headers: runHeader) }
        let digest = "tool-call:" + SHA256.hash(data: JSONSerializer.bytes(call.json)).hexString
        switch try await approvals.state(runID: id, orgID: principal.orgID, digest: digest, policyVersion: version) {
        case .pending(let approvalID, let rule, let proposed):
            return ApprovalGates.pendingResponse(id: approvalID, rule: rule, policy: policy, proposed: proposed, orgID: principal.orgID, runHeader: runHeader)
        case .rejected(_, let reason):
            throw RungateError(.forbidden, code: "approval_rejected", message: "A person rejected this tool call\(reason.map { ": \($0)" } ?? ".")",
                               recovery: "Do not run it; the same request will be refused again in this run.",
                               rule: RuleMatch(rule: rule, policy: policy.name, policyVersion: policy.version), headers: runHeader)
        case .approved(let approvalID, _) where try await approvals.consume(approvalID):
            return jsonResponse(.ok, ["object": "rungate.tool_call_decision", "decision": "approved", "tool": .string(tool),
                                      "approval_id": .string(approvalID.lowercasedString)], headers: runHeader)
        default:
            let opened = try await approvals.request(principal: principal, runID: id, policy: policy, rule: rule, digest: digest, call: call,
                                                     endpoint: "/v1/runs/{id}/tool-calls", held: nil)
            return ApprovalGates.pendingResponse(id: opened.id, rule: rule, policy: policy, proposed: call.json, orgID: principal.orgID, runHeader: runHeader)
        }
    }
}
