/// The kinds of Rungate token. Each credential is accepted by exactly one process.
public enum TokenKind: String, Sendable, CaseIterable, Codable {
    /// Agents calling the data plane.
    case agent
    /// Automation acting as an org user on the control plane.
    case admin
    /// Platform staff on the platform-admin service.
    case platform
    /// A signed-in user's session on the control plane (cookie or bearer).
    case session
    /// A single-use invitation to join an org, sent to the invitee.
    case invitation

    /// Each prefix's bytes, longest first, for matching a token against them: none is a prefix of
    /// another today, but matching stays order-proof.
    static let prefixBytes: [(kind: TokenKind, bytes: [UInt8])] = allCases
        .sorted { $0.prefix.count > $1.prefix.count }
        .map { ($0, Array($0.prefix.utf8)) }

    public var prefix: String {
        switch self {
        case .agent: "rg_agt_"
        case .admin: "rg_adm_"
        case .platform: "rg_platform_"
        case .session: "rg_ses_"
        case .invitation: "rg_inv_"
        }
    }
}
