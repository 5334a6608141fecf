import Common
@testable import ControlPlane
import Foundation
import Testing

/// Signed approval links: bound to their org's data key, their approver and their decision; refused
/// once expired, altered, or checked with another key.
@Suite struct ApprovalLinkTests {
    let keyring = MasterKeyring.random()

    @Test func aLinkVerifiesOnlyUnalteredWithItsKeyAndBeforeItExpires() throws {
        let orgID = UUID()
        let key = keyring.newDataKey(orgID: orgID)
        let link = ApprovalLink(approval: UUID(), org: orgID, user: UUID(), decision: .approve, expires: 2_000_000_000, key: key.id)
        let token = link.token(signedWith: key)
        let now = Date(timeIntervalSince1970: 1_900_000_000)
        #expect(ApprovalLink.verified(token, dataKey: key, now: now) == link)
        #expect(ApprovalLink.verified(token, dataKey: key, now: Date(timeIntervalSince1970: 2_000_000_000)) == nil, "expired")
        #expect(ApprovalLink.verified(token, dataKey: keyring.newDataKey(orgID: orgID), now: now) == nil, "another key")

        // The same claims with another decision or approver, re-encoded under the old signature.
        let signature = String(token.split(separator: ".")[1])
        for changed in [
            ApprovalLink(approval: link.approval, org: orgID, user: link.user, decision: .reject, expires: link.expires, key: key.id),
            ApprovalLink(approval: link.approval, org: orgID, user: UUID(), decision: .approve, expires: link.expires, key: key.id),
            ApprovalLink(approval: link.approval, org: orgID, user: link.user, decision: .approve, expires: 2_100_000_000, key: key.id),
        ] {
            let forged = String(changed.token(signedWith: key).split(separator: ".")[0]) + "." + signature
            #expect(ApprovalLink.verified(forged, dataKey: key, now: now) == nil)
        }
        for garbage in ["", ".", "abc", token + "x", "x" + token, String(repeating: "a", count: 2000)] {
            #expect(ApprovalLink.verified(garbage, dataKey: key, now: now) == nil)
        }
    }

    @Test func anotherOrgsKeyNeverVerifiesALink() {
        let key = keyring.newDataKey(orgID: UUID())
        let other = keyring.newDataKey(orgID: UUID())
        let link = ApprovalLink(approval: UUID(), org: other.orgID, user: UUID(), decision: .approve, expires: 2_000_000_000, key: key.id)
        #expect(ApprovalLink.verified(link.token(signedWith: key), dataKey: key, now: Date(timeIntervalSince1970: 0)) == nil,
                "a link naming another org than its key's is refused")
    }
}
