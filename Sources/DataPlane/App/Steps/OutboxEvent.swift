import Common
import Foundation

/// An event for the org's webhooks, written to the outbox (`events`) by the step recorder: in the
/// same transaction as the step that caused it (`StepRecord.events`), or on its own (budget lines,
/// drift), batched and retried like steps rather than lost with a failed write.
public struct OutboxEvent: Sendable, Codable {
    public let orgID: UUID
    public let type: EventType
    public let payload: JSONValue

    public init(orgID: UUID, type: EventType, payload: JSONValue) {
        self.orgID = orgID
        self.type = type
        self.payload = payload
    }
}
