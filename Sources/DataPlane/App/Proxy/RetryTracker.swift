import Foundation
import Synchronization

/// Remembers each run's last failed request fingerprint, so the agent's retry of that same
/// request is recorded as a step of kind `retry`. Replica-local and bounded: a retry landing on
/// another replica is recorded as a plain model call, which loses no cost, only the label.
final class RetryTracker: Sendable {
    private let failures = Mutex<[UUID: String]>([:])
    private let capacity: Int

    init(capacity: Int = 50_000) {
        self.capacity = capacity
    }

    func isRetry(runID: UUID, fingerprint: String) -> Bool {
        failures.withLock { $0[runID] == fingerprint }
    }

    func recordOutcome(runID: UUID, fingerprint: String, failed: Bool) {
        failures.withLock { failures in
            if failed {
                if failures.count >= capacity { failures.removeAll(keepingCapacity: true) }
                failures[runID] = fingerprint
            } else {
                failures[runID] = nil
            }
        }
    }
}
