import Common
import Foundation
import NIOCore

/// How a forwarded call is closed once its answer is known — whole, streamed to its end, or cut
/// off: its step recorded with the payloads, its budget hold settled at the actual cost, its tokens
/// charged to the rate windows that count them. Made before the answer goes out, so the answer's
/// body writer can close the call after the last byte has left.
struct CallSettlement: Sendable {
    let steps: StepRecorder
    let recorder: GovernanceRecorder
    let governance: GovernanceGate
    let hold: BudgetHold
    let orgID: UUID
    let tokenCounters: [String]
    /// The org's data key that seals the payloads (nil: the org does not store them).
    let payloadKey: DataKey?
    /// The request as the provider saw it (redactions applied).
    let request: ByteBuffer

    func close(_ step: StepRecord, response: ByteBuffer) {
        steps.record(step, payload: PendingPayload(key: payloadKey, request: request, response: response))
        recorder.settle(hold, actual: step.costMicros, orgID: orgID, runID: step.runID)
        governance.charge(tokens: step.usage.input + step.usage.output, to: tokenCounters)
    }
}
