import Common
import Foundation

/// The run a call is attached to, as resolved before forwarding.
public struct RunHandle: Sendable, Equatable {
    public let id: UUID
    public let status: Run.Status
    public let created: Bool
}
