import Foundation

/// The authenticated agent behind a data-plane call, with what enforcement needs about it.
public struct AgentPrincipal: Sendable, Equatable {
    public let tokenID: UUID
    public let tokenHash: String
    public let agentID: UUID
    public let orgID: UUID
    public let teamID: UUID?
    public let policyID: UUID?
    public let policyVersion: Int?
    public let agentActive: Bool
    public let orgActive: Bool
    /// Whether the org stores request and response payloads (org setting).
    public let storePayloads: Bool
}
