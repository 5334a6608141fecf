/// A Redis reply.
public enum RedisValue: Sendable, Equatable {
    case null
    case status(String)
    case integer(Int)
    case bulk([UInt8])
    case array([RedisValue])
    /// An error reply nested in an array (a top-level error reply throws `RedisError.server`).
    case error(String)

    public var int: Int? {
        switch self {
        case .integer(let value): value
        case .bulk(let bytes): Int(String(decoding: bytes, as: UTF8.self))
        default: nil
        }
    }

    public var string: String? {
        switch self {
        case .status(let value): value
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .integer(let value): String(value)
        default: nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let values) = self { return values }
        return nil
    }
}

/// A Redis failure. `server` is an error reply (the command ran and was refused);
/// `connection` means Redis could not be reached or the connection broke.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    case connection(String)
    case server(String)
    case shutDown

    public var description: String {
        switch self {
        case .connection(let why): "Redis connection failed: \(why)"
        case .server(let message): "Redis error: \(message)"
        case .shutDown: "the Redis client is shut down"
        }
    }
}
