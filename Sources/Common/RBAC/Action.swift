/// The catalogue of control-plane actions: every endpoint declares exactly one, admin-token scopes
/// are subsets of it, and `Permissions.allows` decides each role × action.
public enum Action: String, Sendable, CaseIterable, Codable {
    // Org
    case orgRead = "org.read"
    case orgUpdate = "org.update"
    case orgDelete = "org.delete"
    case orgRestore = "org.restore"
    case orgTransferOwnership = "org.transfer_ownership"
    case orgLeave = "org.leave"
    case settingsRead = "settings.read"
    case settingsUpdate = "settings.update"
    case billingRead = "billing.read"
    case billingUpdate = "billing.update"
    // People
    case membersRead = "members.read"
    case membersInvite = "members.invite"
    case membersUpdateRole = "members.update_role"
    case membersRemove = "members.remove"
    case teamsRead = "teams.read"
    case teamsCreate = "teams.create"
    case teamsUpdate = "teams.update"
    case teamsDelete = "teams.delete"
    // Agents and credentials
    case agentsRead = "agents.read"
    case agentsCreate = "agents.create"
    case agentsUpdate = "agents.update"
    case agentsDelete = "agents.delete"
    case tokensRead = "tokens.read"
    case tokensCreate = "tokens.create"
    case tokensRevoke = "tokens.revoke"
    case adminTokensRead = "admin_tokens.read"
    case adminTokensCreate = "admin_tokens.create"
    case adminTokensRevoke = "admin_tokens.revoke"
    case providerKeysRead = "provider_keys.read"
    case providerKeysCreate = "provider_keys.create"
    case providerKeysUpdate = "provider_keys.update"
    case providerKeysDelete = "provider_keys.delete"
    // Governance
    case policiesRead = "policies.read"
    case policiesCreate = "policies.create"
    case policiesUpdate = "policies.update"
    case policiesDelete = "policies.delete"
    case budgetsRead = "budgets.read"
    case budgetsCreate = "budgets.create"
    case budgetsUpdate = "budgets.update"
    case budgetsDelete = "budgets.delete"
    case pricesRead = "prices.read"
    case pricesUpdate = "prices.update"
    // Webhooks
    case webhooksRead = "webhooks.read"
    case webhooksCreate = "webhooks.create"
    case webhooksUpdate = "webhooks.update"
    case webhooksDelete = "webhooks.delete"
    case webhooksRotateSecret = "webhooks.rotate_secret"
    case webhooksTest = "webhooks.test"
    case webhooksRedeliver = "webhooks.redeliver"
    // Runs and their records
    case runsRead = "runs.read"
    case runsCancel = "runs.cancel"
    case payloadsRead = "payloads.read"
    case artifactsRead = "artifacts.read"
    case approvalsRead = "approvals.read"
    case approvalsDecide = "approvals.decide"
    case analyticsRead = "analytics.read"
    case auditRead = "audit.read"

    /// The least privileged role allowed to perform this action.
    public var minimumRole: Role {
        switch self {
        // Owner only: the org's existence, its ownership and its money.
        case .orgDelete, .orgRestore, .orgTransferOwnership, .billingRead, .billingUpdate:
            .owner
        // Admin: manage agents, credentials, policies, budgets, webhooks, members; read the audit log.
        case .orgUpdate, .settingsUpdate, .membersInvite, .membersUpdateRole, .membersRemove,
             .teamsCreate, .teamsUpdate, .teamsDelete, .agentsCreate, .agentsUpdate, .agentsDelete,
             .tokensCreate, .tokensRevoke, .adminTokensRead, .adminTokensCreate, .adminTokensRevoke,
             .providerKeysCreate, .providerKeysUpdate, .providerKeysDelete,
             .policiesCreate, .policiesUpdate, .policiesDelete, .budgetsCreate, .budgetsUpdate, .budgetsDelete,
             .pricesUpdate, .webhooksCreate, .webhooksUpdate, .webhooksDelete, .webhooksRotateSecret,
             .webhooksTest, .webhooksRedeliver, .runsCancel, .auditRead:
            .admin
        // Member: decide approval gates, and read what a run carried (payloads, artifacts, credentials' metadata).
        case .approvalsDecide, .payloadsRead, .artifactsRead, .tokensRead, .providerKeysRead, .webhooksRead:
            .member
        // Viewer: read-only.
        case .orgRead, .orgLeave, .settingsRead, .membersRead, .teamsRead, .agentsRead, .policiesRead,
             .budgetsRead, .pricesRead, .runsRead, .approvalsRead, .analyticsRead:
            .viewer
        }
    }

    /// Whether the action only reads.
    public var isRead: Bool { rawValue.hasSuffix(".read") }
}
