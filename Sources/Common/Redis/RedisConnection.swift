import CHiredis
import Foundation

/// One blocking hiredis connection. Used by one thread at a time: the pool hands it out
/// exclusively and every call runs on the client's own thread pool, never an event loop.
final class RedisConnection: @unchecked Sendable {
    private let context: UnsafeMutablePointer<redisContext>
    private(set) var isBroken = false

    init(configuration: RedisConfiguration) throws(RedisError) {
        guard let context = redisConnectWithTimeout(configuration.host, Int32(configuration.port), configuration.connectTimeout.timeval)
        else { throw .connection("could not allocate a connection") }
        if context.pointee.err != 0 {
            let message = Self.errorString(context)
            redisFree(context)
            throw .connection("\(configuration.host):\(configuration.port): \(message)")
        }
        self.context = context
        _ = redisSetTimeout(context, configuration.commandTimeout.timeval)
        if let password = configuration.password {
            _ = try command(["AUTH", password].map { Array($0.utf8) })
        }
        if configuration.database != 0 {
            _ = try command(["SELECT", String(configuration.database)].map { Array($0.utf8) })
        }
    }

    deinit { redisFree(context) }

    /// Sends one command and waits for its reply. After a transport failure the connection is
    /// marked broken and must be discarded (hiredis leaves it unusable).
    func command(_ arguments: [[UInt8]]) throws(RedisError) -> RedisValue {
        let count = arguments.count
        let pointers = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: count)
        let lengths = UnsafeMutablePointer<Int>.allocate(capacity: count)
        var buffers: [UnsafeMutablePointer<CChar>] = []
        buffers.reserveCapacity(count)
        defer {
            buffers.forEach { $0.deallocate() }
            pointers.deallocate()
            lengths.deallocate()
        }
        for (index, argument) in arguments.enumerated() {
            let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: max(argument.count, 1))
            argument.withUnsafeBufferPointer { source in
                source.withMemoryRebound(to: CChar.self) { chars in
                    if let base = chars.baseAddress { buffer.initialize(from: base, count: argument.count) }
                }
            }
            buffers.append(buffer)
            pointers[index] = UnsafePointer(buffer)
            lengths[index] = argument.count
        }
        guard let raw = redisCommandArgv(context, Int32(count), pointers, lengths) else {
            isBroken = true
            throw .connection(Self.errorString(context))
        }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        return try Self.convert(reply)
    }

    private static func convert(_ reply: UnsafeMutablePointer<redisReply>) throws(RedisError) -> RedisValue {
        let value = reply.pointee
        switch value.type {
        case REDIS_REPLY_NIL:
            return .null
        case REDIS_REPLY_INTEGER:
            return .integer(Int(value.integer))
        case REDIS_REPLY_STATUS:
            return .status(string(value))
        case REDIS_REPLY_ERROR:
            throw .server(string(value))
        case REDIS_REPLY_STRING:
            return .bulk(bytes(value))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(Int(value.elements))
            for index in 0..<Int(value.elements) {
                guard let element = value.element[index] else { elements.append(.null); continue }
                // A nested error reply (e.g. inside EXEC) becomes a value so the rest survives.
                do {
                    elements.append(try convert(element))
                } catch {
                    if case .server(let message) = error { elements.append(.error(message)) }
                }
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func bytes(_ reply: redisReply) -> [UInt8] {
        guard let pointer = reply.str else { return [] }
        return pointer.withMemoryRebound(to: UInt8.self, capacity: Int(reply.len)) {
            Array(UnsafeBufferPointer(start: $0, count: Int(reply.len)))
        }
    }

    private static func string(_ reply: redisReply) -> String {
        String(decoding: bytes(reply), as: UTF8.self)
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return bytes.isEmpty ? "connection lost" : String(decoding: bytes, as: UTF8.self)
        }
    }
}

extension Duration {
    var timeval: timeval {
        let (seconds, attoseconds) = components
        return Foundation.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
