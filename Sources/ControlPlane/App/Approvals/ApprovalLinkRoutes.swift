import Common
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/approval-links/{token}`: deciding an approval request from a signed link, without a session.
/// GET only shows the request and a confirm button (mail scanners and chat previews open links;
/// opening must not decide); POST decides, as the person the link was issued to — who must still
/// be a member allowed to decide, in an org that is active. Refusals never say whether another
/// org or request exists: every bad link gets the same answer.
struct ApprovalLinkRoutes: Sendable {
    let services: ControlPlaneServices

    func add(to router: Router<ControlRequestContext>) {
        router.get("/approval-links/:token") { request, context in try await show(request, context) }
        router.post("/approval-links/:token") { request, context in try await decide(request, context) }
    }

    /// A link that checked out: its claims and the approver's standing.
    private struct Checked {
        let link: ApprovalLink
        let role: Role
        let email: String
    }

    private func show(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        do {
            let (checked, approval) = try await within(request, context) { checked, tx in
                (checked, try await ApprovalRoutes(services: services).existing(checked.link.approval, tx))
            }
            guard approval.status == "pending", approval.expiresAt > Date() else {
                return Self.page(.conflict, title: "Already decided", "This approval request is \(approval.status == "pending" ? "expired" : approval.status); the link no longer works.")
            }
            let verb = checked.link.decision == .approve ? "Approve" : "Reject"
            let arguments = String(decoding: JSONSerializer.bytes(approval.proposedAction["arguments"] ?? .null), as: UTF8.self)
            return Self.page(.ok, title: "\(verb) this tool call?", """
                <p>Signed in as <b>\(Self.escape(checked.email))</b> by this link.</p>
                <dl><dt>Tool</dt><dd><code>\(Self.escape(approval.proposedAction["tool"]?.stringValue ?? "?"))</code></dd>
                <dt>Arguments</dt><dd><pre>\(Self.escape(arguments))</pre></dd>
                <dt>Rule</dt><dd>\(Self.escape(approval.rule))</dd>
                <dt>Run</dt><dd><code>\(approval.runId.lowercasedString)</code></dd>
                <dt>Expires</dt><dd>\(approval.expiresAt.formatted(.iso8601))</dd></dl>
                <form method="post"><label>Reason\(checked.link.decision == .reject ? " (required)" : "")<br>
                <textarea name="reason" rows="3" cols="60"\(checked.link.decision == .reject ? " required" : "")></textarea></label><br>
                <button type="submit">\(verb)</button></form>
                """)
        } catch let error as RungateError {
            return Self.page(error.status, title: "This link does not work", Self.escape(error.message))
        }
    }

    private func decide(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let form = try await Self.form(request)
        let approval: Approval
        let approved: Bool
        do {
            (approval, approved) = try await within(request, context) { checked, tx in
                let approved = checked.link.decision == .approve
                let reason = try ApprovalRoutes.checkedReason(form["reason"], approved: approved)
                return (try await ApprovalRoutes(services: services).decide(checked.link.approval, approved: approved, reason: reason,
                                                                            by: checked.link.user, tx), approved)
            }
        } catch let error as RungateError {
            return Self.page(error.status, title: "Not decided", Self.escape(error.message))
        }
        return Self.page(.ok, title: approved ? "Approved" : "Rejected",
                         "The request for <code>\(Self.escape(approval.proposedAction["tool"]?.stringValue ?? "?"))</code> is \(approval.status). The agent's next attempt gets the answer.")
    }

    /// Verifies the link and runs `body` in the link's org, audited as its approver.
    private func within<Result: Sendable>(
        _ request: Request, _ context: ControlRequestContext, _ body: @escaping @Sendable (Checked, OrgTransaction) async throws -> Result
    ) async throws -> Result {
        let invalid = RungateError(.notFound, code: "link_invalid", message: "This link is invalid or has expired.",
                                   recovery: "Decide in the console or the API, or wait for the next request's link.")
        guard let token = context.parameters.get("token"), let (claimed, _, _) = ApprovalLink.claims(of: token) else { throw invalid }
        let origin = services.origin(request, context)
        return try await services.database.withOrg(claimed.org) { connection in
            guard let key = try await services.dataKeys.key(id: claimed.key, orgID: claimed.org, on: connection),
                  let link = ApprovalLink.verified(token, dataKey: key, now: Date()) else { throw invalid }
            guard let (roleName, email, orgStatus, deleting) = try await connection.query(
                """
                SELECT m.role, u.email, o.status, o.deletion_due_at IS NOT NULL FROM memberships m
                JOIN users u ON u.id = m.user_id JOIN orgs o ON o.id = m.org_id
                WHERE m.org_id = rungate_current_org() AND m.user_id = \(link.user) AND u.disabled_at IS NULL
                """, logger: connection.logger
            ).firstRow(decoding: (String, String, String, Bool).self), let role = Role(rawValue: roleName),
                Permissions.allows(role, .approvalsDecide), orgStatus == "active", !deleting
            else { throw invalid }
            let tx = OrgTransaction(connection: connection, access: OrgAccess(orgID: link.org, role: role),
                                    actor: AuditActor(type: "user", id: link.user.lowercasedString, origin: origin),
                                    audit: services.audit, logger: connection.logger)
            return try await body(Checked(link: link, role: role, email: email), tx)
        }
    }

    /// The reason from a form post (`application/x-www-form-urlencoded`) or a JSON body.
    private static func form(_ request: Request) async throws -> [String: String] {
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 16 * 1024)
        } catch {
            throw RungateError(.contentTooLarge, code: "request_too_large", message: "The form is larger than 16 KiB.", recovery: "Send a shorter reason.")
        }
        let text = String(buffer: body)
        if request.headers[.contentType]?.hasPrefix("application/json") == true {
            return (JSONValue.parse(text)?["reason"]?.stringValue).map { ["reason": $0] } ?? [:]
        }
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        return fields
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }

    /// A small self-contained page: no script, no outside resource, never framed or cached, and
    /// the link (a credential) never leaves in a Referer.
    static func page(_ status: HTTPResponse.Status, title: String, _ content: String) -> Response {
        let html = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
            <title>\(escape(title)) · Rungate</title><style>body{font:16px system-ui;max-width:40em;margin:3em auto;padding:0 1em}
            pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap}dt{font-weight:bold}button{font-size:1em;padding:.4em 1.2em}</style>
            </head><body><h1>\(escape(title))</h1>\(content)</body></html>
            """
        var headers = HTTPFields()
        headers[.contentType] = "text/html; charset=utf-8"
        headers[.cacheControl] = "no-store"
        headers[.contentSecurityPolicy] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[.xFrameOptions] = "DENY"
        headers[.referrerPolicy] = "no-referrer"
        headers[.xContentTypeOptions] = "nosniff"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}
