import Common
import Foundation

/// A run as the agent sees it.
public struct Run: Sendable, Equatable {
    public enum Status: String, Sendable { case running, ended, cancelled }

    public var id: UUID
    public var agentID: UUID
    public var status: Status
    public var policyID: UUID?
    public var policyVersion: Int?
    public var metadata: JSONValue
    public var startedAt: Date
    public var endedAt: Date?
    public var stepCount: Int
    public var inputTokens: Int
    public var outputTokens: Int
    public var costMicros: Int64

    public var json: JSONValue {
        [
            "id": .string(id.uuidString.lowercased()), "object": "run", "agent_id": .string(agentID.uuidString.lowercased()),
            "status": .string(status.rawValue), "metadata": metadata,
            "policy": policyVersion.map { .number(Double($0)) } ?? .null,
            "started_at": .string(startedAt.formatted(.iso8601)), "ended_at": endedAt.map { .string($0.formatted(.iso8601)) } ?? .null,
            "step_count": .number(Double(stepCount)), "input_tokens": .number(Double(inputTokens)),
            "output_tokens": .number(Double(outputTokens)), "cost_micros": .number(Double(costMicros)),
            "cost_usd": .number(Double(costMicros) / 1_000_000),
        ]
    }
}

/// The run a call is attached to, as resolved before forwarding.
public struct RunHandle: Sendable, Equatable {
    public let id: UUID
    public let status: Run.Status
    public let created: Bool
}
