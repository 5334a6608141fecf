import Common
import Crypto
import Foundation
import Synchronization

/// Limits password attempts: per account (failures only, so the owner is not locked out by their
/// own success) and per client address (every attempt). Windows are fixed, counters live in Redis
/// when configured so every replica shares them, else in process.
public final class LoginThrottle: Sendable {
    public struct Limits: Sendable {
        public var failuresPerAccount: Int
        public var attemptsPerAddress: Int
        public var window: Duration

        public init(failuresPerAccount: Int = 10, attemptsPerAddress: Int = 100, window: Duration = .seconds(900)) {
            self.failuresPerAccount = failuresPerAccount
            self.attemptsPerAddress = attemptsPerAddress
            self.window = window
        }
    }

    private let redis: RedisClient?
    private let limits: Limits
    private let local = Mutex<[String: (count: Int, resets: ContinuousClock.Instant)]>([:])

    public init(redis: RedisClient?, limits: Limits = .init()) {
        self.redis = redis
        self.limits = limits
    }

    /// Counts an attempt from `address` and refuses with 429 when either limit is reached.
    public func admit(email: String, address: String?) async throws {
        let seconds = Int(limits.window.components.seconds)
        if let address {
            let (count, ttl) = try await increment(Self.key("ip", address), by: 1, window: seconds)
            if count > limits.attemptsPerAddress { throw Self.limited(retryAfter: ttl) }
        }
        let (failures, ttl) = try await increment(Self.key("account", email), by: 0, window: seconds)
        if failures >= limits.failuresPerAccount { throw Self.limited(retryAfter: ttl) }
    }

    public func recordFailure(email: String) async throws {
        _ = try await increment(Self.key("account", email), by: 1, window: Int(limits.window.components.seconds))
    }

    public func recordSuccess(email: String) async throws {
        let key = Self.key("account", email)
        if let redis {
            _ = try await redis.send("DEL", key)
        } else {
            _ = local.withLock { $0.removeValue(forKey: key) }
        }
    }

    private static let script = RedisScript("""
        local count = redis.call('INCRBY', KEYS[1], ARGV[1])
        local ttl = redis.call('TTL', KEYS[1])
        if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
        return {count, ttl}
        """)

    /// Adds `amount` to the window's counter: (count, seconds until the window resets).
    private func increment(_ key: String, by amount: Int, window: Int) async throws -> (Int, Int) {
        if let redis {
            do {
                let reply = try await redis.eval(Self.script, keys: [key], arguments: [String(amount), String(window)])
                return (reply.array?.first?.int ?? 0, reply.array?.last?.int ?? window)
            } catch {
                throw RungateError.dependencyUnavailable("redis")
            }
        }
        let now = ContinuousClock.now
        return local.withLock { counters in
            var entry = counters[key] ?? (0, now + limits.window)
            if entry.resets <= now { entry = (0, now + limits.window) }
            entry.count += amount
            counters[key] = entry
            return (entry.count, Int((entry.resets - now).components.seconds) + 1)
        }
    }

    /// Keys hold a hash, never the e-mail or address itself.
    private static func key(_ kind: String, _ value: String) -> String {
        "rungate:login:\(kind):\(SHA256.hash(data: Array(value.utf8)).hexString.prefix(32))"
    }

    private static func limited(retryAfter: Int) -> RungateError {
        RungateError(.tooManyRequests, code: "login_rate_limited",
                     message: "Too many sign-in attempts; sign-in is paused for this account or address.",
                     recovery: "Wait \(retryAfter) seconds and try again.",
                     headers: [.retryAfter: String(max(retryAfter, 1))])
    }
}
