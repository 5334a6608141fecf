import Common
import Foundation

/// A signed approve-or-reject link for one approver and one approval request, sent with
/// `approval.requested` so a person can decide from e-mail or chat without a session. The token
/// is `base64url(claims) "." base64url(HMAC)` under a key derived from the org's data key (so
/// links die with the org's key); it expires with the approval request, and it works once: a
/// decision closes the request, and every later use is refused.
struct ApprovalLink: Codable, Sendable, Equatable {
    enum Decision: String, Codable, Sendable {
        case approve, reject
    }

    let approval: UUID
    let org: UUID
    let user: UUID
    let decision: Decision
    /// Unix seconds after which the link is refused.
    let expires: Int
    /// The data key whose derived key signed the link.
    let key: UUID

    func token(signedWith dataKey: DataKey) -> String {
        let claims = Array((try? JSONEncoder.sortedKeys.encode(self)) ?? Data())
        return Base64URL.encode(claims) + "." + Base64URL.encode(dataKey.authenticationCode(for: claims, purpose: .approvalLink))
    }

    /// What a token claims, before its signature is checked (the claims name the key to check it with).
    static func claims(of token: String) -> (link: ApprovalLink, signed: [UInt8], signature: [UInt8])? {
        guard token.utf8.count <= 1024 else { return nil }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let claims = Base64URL.decode(parts[0]), let signature = Base64URL.decode(parts[1]),
              let link = try? JSONDecoder().decode(ApprovalLink.self, from: Data(claims)) else { return nil }
        return (link, claims, signature)
    }

    /// The link, when `token` is signed with `dataKey` and not expired at `now`.
    static func verified(_ token: String, dataKey: DataKey, now: Date) -> ApprovalLink? {
        guard let (link, signed, signature) = claims(of: token), link.key == dataKey.id, link.org == dataKey.orgID,
              ConstantTime.equals(dataKey.authenticationCode(for: signed, purpose: .approvalLink), signature),
              TimeInterval(link.expires) > now.timeIntervalSince1970 else { return nil }
        return link
    }
}
