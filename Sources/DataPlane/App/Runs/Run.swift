import Common
import Foundation

/// The run a call is attached to, as resolved before forwarding.
public struct RunHandle: Sendable, Equatable {
    public let id: UUID
    public let status: Run.Status
    public var created: Bool
    /// The policy version fixed at the run's start.
    public var policyID: UUID? = nil
    public var policyVersion: Int? = nil
    /// Steps and tokens recorded so far (steps are written in batches, so a few ms behind).
    public var stepCount: Int = 0
    public var tokens: Int = 0
}
