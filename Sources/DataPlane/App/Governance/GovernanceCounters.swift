import Common
import Foundation
import Synchronization

/// Short-lived counters for loop detection and rate limits: in Redis when configured (shared by
/// every replica; each script touches only keys of one org, all carrying the org's hash tag
/// `{org_id}`, so the scripts run unchanged on Redis Cluster), else in process (single node).
public final class GovernanceCounters: Sendable {
    private let redis: RedisClient?
    private let local: Mutex<ExpiringTable<Counter>>

    /// `sweepThreshold`: how many in-process counters may accumulate before expired ones are swept.
    public init(redis: RedisClient?, sweepThreshold: Int = 200_000) {
        self.redis = redis
        self.local = Mutex(ExpiringTable(sweepThreshold: sweepThreshold))
    }

    /// An in-process counter (no Redis) and the end of its window.
    struct Counter: Expiring {
        var count: Int
        var expires: ContinuousClock.Instant
    }

    /// How many counters are held in process (tests).
    var localCount: Int { local.withLock { $0.count } }

    /// `rungate:{org}:<parts>`, colon-separated: the braces are Redis Cluster's hash tag.
    public static func key(org: UUID, _ parts: RedisKey.Part...) -> String {
        RedisKey.org(org, parts)
    }

    // A counter that held nothing before this (INCRBY answers the amount itself) starts its window.
    private static let incrementScript = RedisScript("""
        local count = redis.call('INCRBY', KEYS[1], ARGV[1])
        if count == ARGV[1] + 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
        return count
        """)

    /// Adds `amount` to a counter that lives `window` seconds from its first use; returns the new value.
    public func add(_ key: String, _ amount: Int = 1, window seconds: Int) async throws -> Int {
        if let redis {
            return try await redis.eval(Self.incrementScript, keyCount: 1) { command in
                command.append(key)
                command.append(amount)
                command.append(seconds)
            }.int ?? 0
        }
        let now = ContinuousClock.now
        return local.withLock { counters in
            counters.sweepIfDue(now: now)
            var entry = counters.live(key, now: now) ?? Counter(count: 0, expires: now + .seconds(seconds))
            entry.count += amount
            counters.set(key, entry)
            return entry.count
        }
    }

    /// One fixed-window limit to check: the counter's key, its ceiling, and what this call adds.
    public struct Limit: Sendable {
        public let key: String
        public let ceiling: Int
        public let cost: Int
    }

    public struct Decision: Sendable {
        public let allowed: Bool
        /// The index of the limit that refused (or the tightest one when allowed).
        public let index: Int
        public let remaining: Int
        public let resetSeconds: Int
    }

    /// Checks every limit and, only if all pass, charges them all (in process: with Redis the
    /// preflight script does this). A limit with cost 0 (tokens, charged after the answer) refuses
    /// only once its window is used up. `resetSeconds`: when the windows reset (the end of their minute).
    func admitInProcess(_ limits: [Limit], window seconds: Int, resetSeconds: Int) -> Decision {
        guard !limits.isEmpty else { return Decision(allowed: true, index: 0, remaining: Int.max, resetSeconds: resetSeconds) }
        let now = ContinuousClock.now
        return local.withLock { counters in
            counters.sweepIfDue(now: now)
            func used(_ key: String) -> (Int, ContinuousClock.Instant) {
                guard let entry = counters.live(key, now: now) else { return (0, now + .seconds(seconds)) }
                return (entry.count, entry.expires)
            }
            for (index, limit) in limits.enumerated() {
                let (count, _) = used(limit.key)
                if count + limit.cost > limit.ceiling, !(limit.cost == 0 && count < limit.ceiling) {
                    return Decision(allowed: false, index: index, remaining: max(limit.ceiling - count, 0), resetSeconds: resetSeconds)
                }
            }
            var best = Decision(allowed: true, index: 0, remaining: Int.max, resetSeconds: resetSeconds)
            for (index, limit) in limits.enumerated() {
                let (count, expires) = used(limit.key)
                counters.set(limit.key, Counter(count: count + limit.cost, expires: expires))
                let left = limit.ceiling - count - limit.cost
                if left < best.remaining {
                    best = Decision(allowed: true, index: index, remaining: max(left, 0), resetSeconds: resetSeconds)
                }
            }
            return best
        }
    }
}
