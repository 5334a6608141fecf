import Foundation

/// When a failed webhook delivery is tried again: exponential backoff from `base` (doubling per
/// attempt, capped), with ±25 % jitter so receivers coming back are not hit by every sender at
/// once; after `giveUpAfter` since the delivery was queued it is marked failed instead.
struct DeliveryRetry: Sendable {
    let base: Duration
    let cap: Duration
    let giveUpAfter: Duration

    init(_ settings: WebhookDeliverySettings) {
        base = settings.retryBase
        cap = settings.retryCap
        giveUpAfter = settings.giveUpAfter
    }

    /// The next attempt after attempt number `attempt` (1 = the first) failed, or nil to give up.
    func nextAttempt(after attempt: Int, queuedAt: Date, now: Date, jitter: Double = Double.random(in: 0.75...1.25)) -> Date? {
        let doubling = pow(2, Double(min(max(attempt - 1, 0), 30)))
        let delay = min(Self.seconds(base) * doubling, Self.seconds(cap)) * jitter
        let next = now.addingTimeInterval(delay)
        guard next.timeIntervalSince(queuedAt) <= Self.seconds(giveUpAfter) else { return nil }
        return next
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
