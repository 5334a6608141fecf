import CHiredis
import NIOCore
import NIOPosix

/// One Redis connection on an event loop. Commands are written as RESP and pipelined — any number
/// may be in flight — and the replies, parsed by hiredis's reader, complete them in order. No thread
/// waits on Redis. A command that outlives the timeout fails and closes the connection (its reply
/// would otherwise answer the next command), failing those behind it; so does any transport error.
final class RedisConnection: Sendable {
    private let channel: any Channel
    private let handler: NIOLoopBound<RedisReplyHandler>

    var isActive: Bool { channel.isActive }

    private init(channel: any Channel, handler: NIOLoopBound<RedisReplyHandler>) {
        self.channel = channel
        self.handler = handler
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
        let connection: RedisConnection
        do {
            connection = try await channel.eventLoop.submit {
                let handler = try channel.pipeline.syncOperations.handler(type: RedisReplyHandler.self)
                return RedisConnection(channel: channel, handler: NIOLoopBound(handler, eventLoop: channel.eventLoop))
            }.get()
        } catch {
            channel.close(promise: nil)
            throw RedisError.connection("\(configuration.host):\(configuration.port): \(error)")
        }
        do {
            if let password = configuration.password { _ = try await connection.send(RedisCommand(["AUTH", password])) }
            if configuration.database != 0 { _ = try await connection.send(RedisCommand(["SELECT", String(configuration.database)])) }
        } catch {
            connection.close()
            throw error
        }
        return connection
    }

    /// Sends one command and waits for its reply. The command goes straight to the handler, which
    /// resumes the caller with the reply: through the pipeline, with a promise for the write and
    /// one for the reply, it cost ~9 K instructions a command, most of it the futures' generic
    /// metadata looked up at run time (bench/RESULTS.md, session 35).
    func send(_ command: consuming RedisCommand) async throws -> RedisValue {
        let bytes = command.encoded()
        let loop = channel.eventLoop, handler = self.handler
        return try await withUnsafeThrowingContinuation { reply in
            if loop.inEventLoop {
                handler.value.send(bytes, reply: reply)
            } else {
                loop.execute { handler.value.send(bytes, reply: reply) }
            }
        }
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// Pairs replies with commands, first in first out, and fails them all when the oldest has waited
/// longer than the command timeout; lives on its channel's event loop.
final class RedisReplyHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    typealias Reply = UnsafeContinuation<RedisValue, any Error>

    private let reader: UnsafeMutablePointer<redisReader>
    private let commandTimeout: Duration
    private var context: ChannelHandlerContext?
    /// Set once the channel is closing or closed: a command then fails at once.
    private var isClosed = false
    private var waiting = CircularBuffer<(reply: Reply, deadline: NIODeadline)>()
    /// One timer for the connection, not one per command (scheduling and cancelling a timer was work
    /// on every governed call): it fires at the oldest command's deadline and moves on to the next.
    private var timer: Scheduled<Void>?
    /// Whether a flush is queued on the event loop for commands written since the last one.
    private var flushQueued = false

    init(commandTimeout: Duration) {
        reader = redisReaderCreate()
        self.commandTimeout = commandTimeout
    }

    deinit { redisReaderFree(reader) }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        isClosed = true
        failAll(RedisError.connection("connection closed"))
    }

    /// Writes a command; `reply` is resumed with its reply, or with the error that closed the
    /// connection. A write that fails closes the channel (`channelInactive` fails every command
    /// waiting), so the write needs no promise of its own.
    ///
    /// The write is flushed by a task queued behind the work the event loop is running now, which
    /// runs before the loop next waits: the commands other calls send meanwhile on this
    /// connection go out in the same system call, and Redis reads them in one.
    func send(_ bytes: ByteBuffer, reply: Reply) {
        guard let context, !isClosed, context.channel.isActive else {
            reply.resume(throwing: RedisError.connection("connection closed"))
            return
        }
        let deadline = NIODeadline.now() + .milliseconds(commandTimeout.milliseconds)
        waiting.append((reply, deadline))
        if timer == nil { armTimer(context: context, at: deadline) }
        context.write(wrapOutboundOut(bytes), promise: nil)
        guard !flushQueued else { return }
        flushQueued = true
        context.eventLoop.assumeIsolated().execute { [self] in
            flushQueued = false
            self.context?.flush()
        }
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
            guard let reply = waiting.popFirst()?.reply else { return fail(context: context, "a reply nobody asked for") }
            do {
                reply.resume(returning: try RedisValue(reply: raw.assumingMemoryBound(to: redisReply.self)))
            } catch {
                reply.resume(throwing: error)
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        isClosed = true
        timer?.cancel()
        timer = nil
        failAll(RedisError.connection("connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(context: context, "\(error)")
    }

    private func fail(context: ChannelHandlerContext, _ why: String) {
        isClosed = true
        failAll(RedisError.connection(why))
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        while let reply = waiting.popFirst()?.reply { reply.resume(throwing: error) }
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
