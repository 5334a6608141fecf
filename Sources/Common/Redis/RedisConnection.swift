import CHiredis
import NIOCore
import NIOPosix

/// One Redis connection on an event loop. Commands are written as RESP and pipelined — any number
/// may be in flight — and the replies, parsed by hiredis's reader, complete them in order. No thread
/// waits on Redis. A command that outlives the timeout fails and closes the connection (its reply
/// would otherwise answer the next command), failing those behind it; so does any transport error.
final class RedisConnection: Sendable {
    private let channel: any Channel

    var isActive: Bool { channel.isActive }

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func connect(configuration: RedisConfiguration, group: any EventLoopGroup) async throws -> RedisConnection {
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .connectTimeout(.milliseconds(configuration.connectTimeout.milliseconds))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(RedisReplyHandler(commandTimeout: configuration.commandTimeout))
                    }
                }
                .connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw RedisError.connection("\(configuration.host):\(configuration.port): \(error)")
        }
        let connection = RedisConnection(channel: channel)
        do {
            if let password = configuration.password { _ = try await connection.send(RedisCommand(["AUTH", password])) }
            if configuration.database != 0 { _ = try await connection.send(RedisCommand(["SELECT", String(configuration.database)])) }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// Sends one command and waits for its reply.
    func send(_ command: consuming RedisCommand) async throws -> RedisValue {
        let promise = channel.eventLoop.makePromise(of: RedisValue.self)
        channel.writeAndFlush(RedisRequest(bytes: command.encoded(), reply: promise)).whenFailure { error in
            promise.fail(RedisError.connection("\(error)"))
        }
        return try await promise.futureResult.get()
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// A command on its way out, and where its reply goes.
struct RedisRequest {
    let bytes: ByteBuffer
    let reply: EventLoopPromise<RedisValue>
}

/// Pairs replies with requests, first in first out, and fails them all when the oldest has waited
/// longer than the command timeout; lives on its channel's event loop.
final class RedisReplyHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private let reader: UnsafeMutablePointer<redisReader>
    private let commandTimeout: Duration
    private var waiting = CircularBuffer<(reply: EventLoopPromise<RedisValue>, deadline: NIODeadline)>()
    /// One timer for the connection, not one per command (scheduling and cancelling a timer was work
    /// on every governed call): it fires at the oldest command's deadline and moves on to the next.
    private var timer: Scheduled<Void>?

    init(commandTimeout: Duration) {
        reader = redisReaderCreate()
        self.commandTimeout = commandTimeout
    }

    deinit { redisReaderFree(reader) }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        let deadline = NIODeadline.now() + .milliseconds(commandTimeout.milliseconds)
        waiting.append((request.reply, deadline))
        if timer == nil { armTimer(context: context, at: deadline) }
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    private func armTimer(context: ChannelHandlerContext, at deadline: NIODeadline) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            guard let oldest = waiting.first else { return }
            if oldest.deadline <= .now() {
                fail(context: context, "no reply within \(commandTimeout)")
            } else {
                armTimer(context: context, at: oldest.deadline)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        let fed = bytes.withUnsafeReadableBytes { raw in
            redisReaderFeed(reader, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
        }
        guard fed == REDIS_OK else { return fail(context: context, "unreadable reply") }
        while true {
            var raw: UnsafeMutableRawPointer?
            guard redisReaderGetReply(reader, &raw) == REDIS_OK else { return fail(context: context, "unreadable reply") }
            guard let raw else { return }  // the rest of the reply is still on its way
            defer { freeReplyObject(raw) }
            guard let promise = waiting.popFirst()?.reply else { return fail(context: context, "a reply nobody asked for") }
            do {
                promise.succeed(try RedisValue(reply: raw.assumingMemoryBound(to: redisReply.self)))
            } catch {
                promise.fail(error)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        failAll(RedisError.connection("connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, "\(error)")
    }

    private func fail(context: ChannelHandlerContext, _ why: String) {
        failAll(RedisError.connection(why))
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        while let promise = waiting.popFirst()?.reply { promise.fail(error) }
    }
}

extension RedisValue {
    /// A hiredis reply as a value; a top-level error reply throws, a nested one (inside EXEC) stays
    /// a value so the rest survives.
    init(reply: UnsafeMutablePointer<redisReply>) throws(RedisError) {
        let value = reply.pointee
        func bytes() -> [UInt8] {
            guard let pointer = value.str else { return [] }
            return pointer.withMemoryRebound(to: UInt8.self, capacity: Int(value.len)) { Array(UnsafeBufferPointer(start: $0, count: Int(value.len))) }
        }
        switch value.type {
        case REDIS_REPLY_NIL: self = .null
        case REDIS_REPLY_INTEGER: self = .integer(Int(value.integer))
        case REDIS_REPLY_STATUS: self = .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: throw .server(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_STRING: self = .bulk(bytes())
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(Int(value.elements))
            for index in 0..<Int(value.elements) {
                guard let element = value.element[index] else { elements.append(.null); continue }
                do {
                    elements.append(try RedisValue(reply: element))
                } catch {
                    if case .server(let message) = error { elements.append(.error(message)) }
                }
            }
            self = .array(elements)
        default: self = .null
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
