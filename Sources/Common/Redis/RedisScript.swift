import Crypto

/// A Lua script run atomically by Redis, addressed by its SHA-1 so only the hash travels.
public struct RedisScript: Sendable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { $0 }.hexString
    }
}

extension RedisClient {
    /// Runs `script` with EVALSHA, loading it with EVAL the first time a server has not seen it
    /// (a restarted or new Redis answers NOSCRIPT).
    public func eval(_ script: RedisScript, keys: [String], arguments: [String]) async throws -> RedisValue {
        let tail = [String(keys.count)] + keys + arguments
        do {
            return try await send((["EVALSHA", script.sha1] + tail).map { Array($0.utf8) })
        } catch RedisError.server(let message) where message.hasPrefix("NOSCRIPT") {
            return try await send((["EVAL", script.source] + tail).map { Array($0.utf8) })
        }
    }
}
