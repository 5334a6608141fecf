/// The three credential classes. Each is accepted by exactly one process.
public enum TokenKind: String, Sendable, CaseIterable, Codable {
    /// Agents calling the data plane.
    case agent
    /// Automation acting as an org user on the control plane.
    case admin
    /// Platform staff on the platform-admin service.
    case platform

    public var prefix: String {
        switch self {
        case .agent: "rg_agt_"
        case .admin: "rg_adm_"
        case .platform: "rg_platform_"
        }
    }
}
