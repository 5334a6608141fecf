import Common
import Foundation
import PostgresNIO

/// Issues the signed decision links that `approval.requested` deliveries carry: for every member
/// whose role may decide approvals, an approve link and a reject link of their own, so the
/// decision is recorded as that person. Whoever receives the webhook can pass a link on to its
/// approver (chat, e-mail); anyone holding a link can use it once, until the request expires.
struct ApprovalLinks: Sendable {
    let publicURL: String
    let dataKeys: any DataKeyRepository

    static var deciderRoles: [String] { Role.allCases.filter { Permissions.allows($0, .approvalsDecide) }.map(\.rawValue) }

    /// `[{user_id, email, approve_url, reject_url}]` for a pending request (empty once it is closed).
    func approvers(orgID: UUID, approvalID: UUID, on connection: PostgresConnection) async throws -> JSONValue {
        guard let expiresAt = try await connection.query(
            "SELECT expires_at FROM approvals WHERE org_id = rungate_current_org() AND id = \(approvalID) AND status = 'pending'",
            logger: connection.logger
        ).first(decoding: Date.self), let key = try await dataKeys.active(orgID: orgID, on: connection) else { return [] }
        let people = try await connection.query(
            """
            SELECT m.user_id, u.email FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.org_id = rungate_current_org() AND m.role = ANY (\(Self.deciderRoles)) AND u.disabled_at IS NULL
            ORDER BY u.email
            """, logger: connection.logger
        ).allRows(decoding: (UUID, String).self)
        return .array(people.map { userID, email in
            func url(_ decision: ApprovalLink.Decision) -> JSONValue {
                let link = ApprovalLink(approval: approvalID, org: orgID, user: userID, decision: decision,
                                        expires: Int(expiresAt.timeIntervalSince1970), key: key.id)
                return .string("\(publicURL)/approval-links/\(link.token(signedWith: key))")
            }
            return ["user_id": .string(userID.lowercasedString), "email": .string(email), "approve_url": url(.approve), "reject_url": url(.reject)]
        })
    }
}
