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
        try await eval(script, keyCount: keys.count) { command in
            for key in keys { command.append(key) }
            for argument in arguments { command.append(argument) }
        }
    }

    /// Runs `script` with the keys and arguments `append` adds (its first `keyCount` are the keys),
    /// without a string per argument; `append` runs again if the script has to be loaded.
    public func eval(_ script: RedisScript, keyCount: Int, capacity: Int = 512, _ append: (inout RedisCommand) -> Void) async throws -> RedisValue {
        var command = RedisCommand(capacity: capacity)
        command.append("EVALSHA")
        command.append(script.sha1)
        command.append(keyCount)
        append(&command)
        do {
            return try await send(consume command)
        } catch RedisError.server(let message) where message.hasPrefix("NOSCRIPT") {
            var loading = RedisCommand(capacity: capacity + script.source.utf8.count)
            loading.append("EVAL")
            loading.append(script.source)
            loading.append(keyCount)
            append(&loading)
            return try await send(consume loading)
        }
    }
}
