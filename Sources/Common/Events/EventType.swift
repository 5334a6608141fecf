/// The events a webhook can subscribe to (the design's list), plus `webhook.test`, sent on request.
public enum EventType: String, Sendable, CaseIterable, Codable {
    case runStarted = "run.started"
    case runEnded = "run.ended"
    case stepBlocked = "step.blocked"
    case budgetThreshold = "budget.threshold"
    case budgetExceeded = "budget.exceeded"
    case approvalRequested = "approval.requested"
    case approvalDecided = "approval.decided"
    case policyViolation = "policy.violation"
    case policyDrift = "policy.drift"
    case tokenRevoked = "token.revoked"

    /// Only ever delivered to the one webhook it was requested for.
    public static let test = "webhook.test"
}
