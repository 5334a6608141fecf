import Foundation

/// A run started by a call on this replica, written with the next step batch (before its steps).
public struct NewRun: Sendable, Equatable, Codable {
    public let id: UUID
    public let orgID: UUID
    public let agentID: UUID
    public let policyID: UUID?
    public let policyVersion: Int?
    public var startedAt = Date()
}

extension NewRun {
    /// Stands for "no policy" in bound arrays, which cannot hold NULL.
    static let noPolicy = UUID(uuidString: "00000000-0000-0000-0000-000000000000")!
}
