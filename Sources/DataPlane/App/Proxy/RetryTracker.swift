import Common
import Foundation
import Synchronization

/// Remembers each run's last failed request fingerprint, so the agent's retry of that same
/// request is recorded as a step of kind `retry`.
///
/// With Redis configured the memory is shared (a key per run, ten minutes), so a retry that lands
/// on another replica is labelled too; the key is written before the failed call's answer leaves,
/// so the agent cannot retry ahead of it. Without Redis (single node) it is in-process and bounded.
/// A Redis error only costs the label, never the call.
final class RetryTracker: Sendable {
    private let failures = Mutex<[UUID: String]>([:])
    private let redis: RedisClient?
    private let capacity: Int

    init(redis: RedisClient?, capacity: Int = 50_000) {
        self.redis = redis
        self.capacity = capacity
    }

    /// Whether a call with this body on `runID` (nil for a new run) repeats the run's last failed call.
    func isRetry(runID: UUID?, fingerprint: String) async -> Bool {
        guard let runID else { return false }
        if let redis {
            return (try? await redis.send("GET", Self.key(runID)))?.string == fingerprint
        }
        return failures.withLock { $0[runID] == fingerprint }
    }

    /// Notes how a call ended: a failure is remembered; a successful retry forgets it.
    func recordOutcome(runID: UUID, fingerprint: String, failed: Bool, wasRetry: Bool) async {
        if let redis {
            if failed {
                _ = try? await redis.send("SET", Self.key(runID), fingerprint, "EX", "600")
            } else if wasRetry {
                _ = try? await redis.send("DEL", Self.key(runID))
            }
            return
        }
        failures.withLock { failures in
            if failed {
                if failures.count >= capacity { failures.removeAll(keepingCapacity: true) }
                failures[runID] = fingerprint
            } else {
                failures[runID] = nil
            }
        }
    }

    private static func key(_ runID: UUID) -> String { "rungate:retry:\(runID.lowercasedString)" }
}
