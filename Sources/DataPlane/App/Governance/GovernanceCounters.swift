import Common
import Foundation
import Synchronization

/// Short-lived counters for loop detection and rate limits: in Redis when configured (shared by
/// every replica; each script touches only keys of one org, all carrying the org's hash tag
/// `{org_id}`, so the scripts run unchanged on Redis Cluster), else in process (single node).
public final class GovernanceCounters: Sendable {
    private let redis: RedisClient?
    private let local = Mutex<[String: (count: Int, expires: ContinuousClock.Instant)]>([:])

    public init(redis: RedisClient?) {
        self.redis = redis
    }

    /// `rungate:{org}:<parts>`: the braces are Redis Cluster's hash tag.
    public static func key(org: UUID, _ parts: String...) -> String {
        "rungate:{\(org.uuidString.lowercased())}:" + parts.joined(separator: ":")
    }

    private static let incrementScript = RedisScript("""
        local count = redis.call('INCRBY', KEYS[1], ARGV[1])
        if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
        return count
        """)

    /// Adds `amount` to a counter that lives `window` seconds from its first use; returns the new value.
    public func add(_ key: String, _ amount: Int = 1, window seconds: Int) async throws -> Int {
        if let redis {
            return try await redis.eval(Self.incrementScript, keys: [key], arguments: [String(amount), String(seconds)]).int ?? 0
        }
        let now = ContinuousClock.now
        return local.withLock { counters in
            if counters.count > 200_000 { counters = counters.filter { $0.value.expires > now } }
            var entry = counters[key] ?? (0, now + .seconds(seconds))
            if entry.expires <= now { entry = (0, now + .seconds(seconds)) }
            entry.count += amount
            counters[key] = entry
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

    private static let limitScript = RedisScript("""
        local window = tonumber(ARGV[1])
        local n = #KEYS
        for i = 1, n do
          local used = tonumber(redis.call('GET', KEYS[i]) or '0')
          local ceiling = tonumber(ARGV[1 + i])
          local cost = tonumber(ARGV[1 + n + i])
          if used + cost > ceiling and not (cost == 0 and used < ceiling) then
            local ttl = redis.call('TTL', KEYS[i])
            if ttl < 0 then ttl = window end
            return {0, i - 1, math.max(ceiling - used, 0), ttl}
          end
        end
        local tightest, least, reset = 0, -1, window
        for i = 1, n do
          local cost = tonumber(ARGV[1 + n + i])
          local used = redis.call('INCRBY', KEYS[i], cost)
          if redis.call('TTL', KEYS[i]) < 0 then redis.call('EXPIRE', KEYS[i], window) end
          local left = tonumber(ARGV[1 + i]) - used
          if least < 0 or left < least then least = left; tightest = i - 1; reset = redis.call('TTL', KEYS[i]) end
        end
        return {1, tightest, math.max(least, 0), reset}
        """)

    /// Checks every limit and, only if all pass, charges them all, in one atomic step. A limit
    /// with cost 0 (tokens, charged after the answer) refuses only once its window is used up.
    public func admit(_ limits: [Limit], window seconds: Int) async throws -> Decision {
        guard !limits.isEmpty else { return Decision(allowed: true, index: 0, remaining: Int.max, resetSeconds: seconds) }
        if let redis {
            let reply = try await redis.eval(
                Self.limitScript, keys: limits.map(\.key),
                arguments: [String(seconds)] + limits.map { String($0.ceiling) } + limits.map { String($0.cost) })
            let values = reply.array?.compactMap(\.int) ?? []
            guard values.count == 4 else { throw RedisError.server("unexpected reply to the rate-limit script") }
            return Decision(allowed: values[0] == 1, index: values[1], remaining: values[2], resetSeconds: max(values[3], 1))
        }
        let now = ContinuousClock.now
        return local.withLock { counters in
            func used(_ key: String) -> (Int, ContinuousClock.Instant) {
                guard let entry = counters[key], entry.expires > now else { return (0, now + .seconds(seconds)) }
                return (entry.count, entry.expires)
            }
            for (index, limit) in limits.enumerated() {
                let (count, expires) = used(limit.key)
                if count + limit.cost > limit.ceiling, !(limit.cost == 0 && count < limit.ceiling) {
                    return Decision(allowed: false, index: index, remaining: max(limit.ceiling - count, 0),
                                    resetSeconds: max(Int((expires - now).components.seconds), 1))
                }
            }
            var best = Decision(allowed: true, index: 0, remaining: Int.max, resetSeconds: seconds)
            for (index, limit) in limits.enumerated() {
                let (count, expires) = used(limit.key)
                counters[limit.key] = (count + limit.cost, expires)
                let left = limit.ceiling - count - limit.cost
                if left < best.remaining {
                    best = Decision(allowed: true, index: index, remaining: max(left, 0), resetSeconds: max(Int((expires - now).components.seconds), 1))
                }
            }
            return best
        }
    }
}
