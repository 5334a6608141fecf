import Common
import Foundation
import Hummingbird
import PostgresNIO

/// An approval request as approvers see it: what the agent proposed, under which rule, and its decision.
public struct Approval: Codable, Sendable {
    public let id: UUID
    public let runId: UUID
    public let agentId: UUID
    public let status: String
    public let rule: String
    public let policyId: UUID?
    public let policyVersion: Int?
    public let proposedAction: JSONValue
    public let reason: String?
    public let decidedBy: UUID?
    public let decidedAt: Date?
    public let expiresAt: Date
    public let createdAt: Date
}

/// Approval gates: list, read, approve, reject. A decision is final, recorded with who and when,
/// audited, and announced as `approval.decided`.
struct ApprovalRoutes: RouteCollection {
    let services: ControlPlaneServices

    var routes: [APIRoute] {
        [
            APIRoute(.get, "/api/orgs/{org}/approvals", access: .org(.approvalsRead),
                     summary: "List approval requests (?status=pending|approved|rejected|expired|consumed), newest first", handler: list),
            APIRoute(.get, "/api/orgs/{org}/approvals/{approval}", access: .org(.approvalsRead),
                     summary: "Read an approval request with the proposed action and its run", handler: read),
            APIRoute(.post, "/api/orgs/{org}/approvals/{approval}/approve", access: .org(.approvalsDecide),
                     summary: "Approve: the agent's retry of the same call gets the held answer", body: Schema.object(["reason": Schema.string]),
                     handler: approve),
            APIRoute(.post, "/api/orgs/{org}/approvals/{approval}/reject", access: .org(.approvalsDecide),
                     summary: "Reject with a reason: the agent's retry gets 403 with it", body: Schema.object(["reason": Schema.string], required: ["reason"]),
                     handler: reject),
        ]
    }

    struct DecisionBody: Decodable { let reason: String? }

    static let statuses = ["pending", "approved", "rejected", "expired", "consumed"]

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let query = ListQuery(request)
        let status = query.text("status")
        if let status, !Self.statuses.contains(status) { throw RungateError.badRequest("`status` must be one of \(Self.statuses.joined(separator: ", ")).") }
        let limit = try query.limit()
        let approvals = try await services.inOrg(request, context) { tx in try await select(nil, status: status, limit: limit, tx) }
        return try APIJSON.response(.ok, ListResponse(approvals))
    }

    @Sendable func read(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("approval", "The approval")
        return try APIJSON.response(.ok, try await services.inOrg(request, context) { tx in try await existing(id, tx) })
    }

    @Sendable func approve(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        try await decide(request, context, approved: true)
    }

    @Sendable func reject(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        try await decide(request, context, approved: false)
    }

    private func decide(_ request: Request, _ context: ControlRequestContext, approved: Bool) async throws -> Response {
        let id = try context.id("approval", "The approval")
        let reason = try Self.checkedReason(try await APIJSON.decode(DecisionBody.self, from: request).reason, approved: approved)
        let userID = try context.requireIdentity().userID
        let approval = try await services.inOrg(request, context) { tx in try await decide(id, approved: approved, reason: reason, by: userID, tx) }
        return try APIJSON.response(.ok, approval)
    }

    /// A decision's reason, trimmed: required to reject (the agent is told why), at most 2000 characters.
    static func checkedReason(_ reason: String?, approved: Bool) throws -> String? {
        let reason = reason?.trimmingCharacters(in: .whitespacesAndNewlines)
        if !approved, reason?.isEmpty ?? true { throw RungateError.invalidField("reason", "is required to reject: the agent is told why") }
        if let reason, reason.count > 2000 { throw RungateError.invalidField("reason", "is at most 2000 characters") }
        return reason?.isEmpty == true ? nil : reason
    }

    /// Decides a pending request as `userID` — final, audited, announced as `approval.decided` —
    /// or refuses with 409 when it is already decided or expired (so a decision happens once).
    func decide(_ id: UUID, approved: Bool, reason: String?, by userID: UUID, _ tx: OrgTransaction) async throws -> Approval {
        let before = try await existing(id, tx)
        let closed = RungateError(.conflict, code: "approval_closed",
                                  message: "This approval request is \(before.status == "pending" ? "expired" : "already \(before.status)").",
                                  recovery: "The agent's next attempt opens a new request if the gate still applies.")
        guard before.status == "pending", before.expiresAt > Date() else { throw closed }
        // Two approvers at once: the row decides who was first.
        guard try await tx.connection.query(
            """
            UPDATE approvals SET status = \(approved ? "approved" : "rejected"), reason = \(reason), decided_by = \(userID), decided_at = now()
            WHERE org_id = rungate_current_org() AND id = \(id) AND status = 'pending' RETURNING id
            """, logger: tx.logger
        ).first(decoding: UUID.self) != nil else { throw closed }
        let after = try await existing(id, tx)
        try await tx.record(AuditEvent(approved ? "approvals.approve" : "approvals.reject", target: "approval", id: id,
                                       before: APIJSON.tree(before), after: APIJSON.tree(after)))
        try await tx.emit("approval.decided", APIJSON.tree(after))
        return after
    }

    private typealias Row = (UUID, UUID, UUID, String, String, UUID?, Int?, String, String?, UUID?, Date?, Date, Date)

    private func select(_ id: UUID?, status: String?, limit: Int, _ tx: OrgTransaction) async throws -> [Approval] {
        try await tx.connection.query(
            """
            SELECT id, run_id, agent_id, status, rule, policy_id, policy_version, proposed_action::text, reason, decided_by, decided_at,
                   expires_at, created_at
            FROM approvals
            WHERE org_id = rungate_current_org() AND (\(id)::uuid IS NULL OR id = \(id)) AND (\(status)::text IS NULL OR status = \(status))
            ORDER BY created_at DESC, id LIMIT \(limit)
            """, logger: tx.logger
        ).allRows(decoding: Row.self).map { row in
            Approval(id: row.0, runId: row.1, agentId: row.2, status: row.3, rule: row.4, policyId: row.5, policyVersion: row.6,
                     proposedAction: JSONValue.parse(row.7) ?? .null, reason: row.8, decidedBy: row.9, decidedAt: row.10,
                     expiresAt: row.11, createdAt: row.12)
        }
    }

    func existing(_ id: UUID, _ tx: OrgTransaction) async throws -> Approval {
        guard let approval = try await select(id, status: nil, limit: 1, tx).first else { throw RungateError.notFound("The approval") }
        return approval
    }
}
