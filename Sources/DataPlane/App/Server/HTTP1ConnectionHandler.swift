import Common
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// One HTTP/1.1 connection: each request is read whole (head, body up to `maxBodyBytes`, end) and
/// answered by the router (`respond`) in a task of its own, which writes straight to the channel; answers
/// leave in the order their requests came.
///
/// This one handler does what NIO's pipelining handler, its protocol-error handler, the translation
/// to HTTP types and a persistence handler did as four: every request part and answer part crossed
/// each of them (~20 K instructions per call, bench/RESULTS.md session 22), and the pipelining
/// handler stopped reading whenever an answer was pending — on every call — so each call took the
/// socket's read interest out of epoll and put it back (two `epoll_ctl`). Here reading stops only
/// while a whole request waits behind the answer in flight (a client that pipelines): what waits
/// is at most what the reads before the pause brought.
///
/// Not generic over the responder: NIO calls a handler through its protocol, so a generic one's
/// methods run unspecialised, every value they copy through run-time metadata.
final class HTTP1ConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    /// Answers one request (the router, with its request context made from the source).
    typealias Respond = @Sendable (Request, ApplicationRequestContextSource) async throws -> Response
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPResponsePart
    /// The answer's bytes: it is encoded here (`ResponseEncoding`), not by NIO's encoder.
    typealias OutboundOut = ByteBuffer

    /// A request read whole, waiting for its answer.
    private struct Received {
        var head: HTTPRequest
        var persistence: ConnectionPersistence
        var body = RequestBody(buffer: ByteBuffer())
        /// Its answer closes the connection whatever the client asked (a 413 given before the body).
        var closing = false
    }

    private enum Reading {
        case idle
        /// `expectsContinue`: the client waits for `100 Continue` before it sends the body, and has
        /// not had it yet (an answer ahead of its request was still being written).
        case collecting(Received, body: ByteBuffer?, expectsContinue: Bool)
        /// The body passed the limit: what came is dropped, what still comes is read and dropped,
        /// and the route that collects the body answers 413 on a connection that stays usable.
        case discarding(Received)
        /// The connection closes after the answers it owes: whatever else comes is dropped.
        case dropping
    }

    /// The answer being written, and whether the connection closes after it (decided by its head).
    private struct Answer {
        var persistence: ConnectionPersistence
        var closing: Bool
        /// It answers `HEAD`: framed as its `GET` would be, without the body.
        var answersHEAD: Bool
        /// How its body goes, once its head is written.
        var encoding: ResponseEncoding?
    }

    private let respond: Respond
    private let maxBodyBytes: Int
    private let serverName: String?
    private let logger: Logger
    private var reading = Reading.idle
    private var answer: Answer?
    /// Requests read whole while an answer was in flight (pipelined), in the order they came.
    private var waiting = CircularBuffer<Received>()
    /// A read held back while requests wait, issued once they are answered.
    private var readHeld = false
    /// Graceful shutdown began: the answer in flight (or the request being read) is the last one.
    private var quiescing = false
    /// The client half-closed: the requests it sent are answered, then the connection closes.
    private var inputClosed = false
    /// A malformed request came while answers were owed: it gets its 400 after them.
    private var badRequestOwed = false

    init(respond: @escaping Respond, maxBodyBytes: Int, serverName: String?, logger: Logger) {
        self.respond = respond
        self.maxBodyBytes = maxBodyBytes
        self.serverName = serverName
        self.logger = logger
    }

    // MARK: Requests in

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), reading) {
        case (_, .dropping):
            break
        case (.head(let head), _):
            guard !quiescing, let request = Self.request(from: head) else {
                if !quiescing { failBadRequest(context: context) }
                reading = .dropping
                return
            }
            let received = Received(head: request, persistence: ConnectionPersistence(head))
            if request.headerFields[.expect]?.lowercased() == "100-continue" {
                expectContinue(received, context: context)
            } else {
                reading = .collecting(received, body: nil, expectsContinue: false)
            }
        case (.body(let part), .collecting(let received, var body, let expectsContinue)):
            reading = .idle  // lets `body` be appended to without a copy
            if (body?.readableBytes ?? 0) + part.readableBytes > maxBodyBytes {
                reading = .discarding(received)
            } else if body == nil {
                reading = .collecting(received, body: part, expectsContinue: expectsContinue)
            } else {
                body!.writeImmutableBuffer(part)
                reading = .collecting(received, body: body, expectsContinue: expectsContinue)
            }
        case (.end, .collecting(var received, let body, _)):
            reading = .idle
            if let body { received.body = RequestBody(buffer: body) }
            take(received, context: context)
        case (.end, .discarding(var received)):
            reading = .idle
            received.body = oversizedBody
            take(received, context: context)
        case (.body, _), (.end, .idle):
            break
        }
    }

    /// The request translated to HTTP types; nil when it cannot be (a method or path HTTP types refuse).
    private static func request(from head: HTTPRequestHead) -> HTTPRequest? {
        // An origin-form target ("/v1/…", all but every request) is the path as it is; the general
        // conversion reads any other form through Foundation's URL parser.
        guard head.uri.utf8.first == UInt8(ascii: "/"), let method = try? HTTPRequest.Method(head.method) else {
            return try? HTTPRequest(head, secure: false, splitCookie: false)
        }
        return HTTPRequest(method: method, scheme: "http", authority: head.headers.first(name: "host"), path: head.uri,
                           headerFields: HTTPFields(requestHeaders: head.headers))
    }

    /// A client that waits to be told before it sends its body (`Expect: 100-continue`: curl asks
    /// for large bodies, and otherwise waits a second) is told to go on — once the answers ahead of
    /// it are written — or, when the announced length is already past the limit, gets its 413 at once
    /// on a connection that then closes (whether the client still sends the body is its choice, so
    /// what follows cannot be framed).
    private func expectContinue(_ received: Received, context: ChannelHandlerContext) {
        if let length = received.head.headerFields[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            var refused = received
            refused.body = oversizedBody
            refused.closing = true
            reading = .dropping
            take(refused, context: context)
        } else if answer == nil {
            reading = .collecting(received, body: nil, expectsContinue: false)
            writeContinue(received.persistence, context: context)
        } else {
            reading = .collecting(received, body: nil, expectsContinue: true)
        }
    }

    private func writeContinue(_ persistence: ConnectionPersistence, context: ChannelHandlerContext) {
        guard !persistence.isHTTP10 else { return }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(staticString: "HTTP/1.1 100 Continue\r\n\r\n")), promise: nil)
    }

    /// The body given to a request past the limit: the route that collects it answers 413.
    private var oversizedBody: RequestBody { RequestBody(asyncSequence: OversizedBody(maxBytes: maxBodyBytes)) }

    /// Answers a request now, or after the answers ahead of it.
    private func take(_ received: Received, context: ChannelHandlerContext) {
        if answer == nil {
            respond(to: received, context: context)
        } else {
            waiting.append(received)
        }
    }

    // MARK: Reading paused and resumed

    func read(context: ChannelHandlerContext) {
        if waiting.isEmpty, !isDropping {
            context.read()
        } else {
            readHeld = true
        }
    }

    private var isDropping: Bool {
        if case .dropping = reading { return true }
        return false
    }

    // MARK: Answers out

    private func respond(to received: Received, context: ChannelHandlerContext) {
        // A shutdown begun by then is seen as the head is written.
        answer = Answer(persistence: received.persistence, closing: received.closing, answersHEAD: received.head.method == .head)
        let respond = self.respond, channel = context.channel
        let parts = AnswerParts(handler: self, context: context)
        let request = Request(head: received.head, body: received.body)
        var logger = self.logger
        logger[metadataKey: "hb.request.id"] = .string(RequestIdentifier.next())  // RequestContext.id reads it
        Task { [logger] in
            var response: Response
            do {
                response = try await respond(request, .init(channel: channel, logger: logger))
            } catch {
                // The error middleware answers every error itself; this is the framework's last resort.
                logger.error("unhandled error", metadata: ["error.type": "\(type(of: error))"])
                response = Response(status: .internalServerError)
            }
            let writer = ChannelResponseBodyWriter(parts, head: response.head, streamed: response.body.contentLength == nil)
            do {
                try await response.body.write(writer)
            } catch {
                // Half an answer cannot be completed or followed by another one.
                logger.debug("answer not completed", metadata: ["error.type": "\(type(of: error))"])
                channel.close(promise: nil)
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        write(unwrapOutboundIn(data), context: context, promise: promise)
    }

    /// An answer's part, from the pipeline (`write(context:data:promise:)`) or straight from the
    /// task that makes the answer (`AnswerParts`).
    fileprivate func write(_ part: HTTPResponsePart, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        guard var answer else {
            // Nothing is owed on this connection (it failed and is closing): nothing may be written.
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch part {
        case .head(let response) where response.status.kind == .informational && response.status != .switchingProtocols:
            guard !answer.persistence.isHTTP10 else { promise?.succeed(()); return }
            var buffer = context.channel.allocator.buffer(capacity: 0)
            _ = ResponseEncoding(head: response, fields: FramingFields(response.headerFields), version: .http1_1, connection: nil,
                                 answersHEAD: false, date: HTTPDate.now(), server: serverName, into: &buffer)
            context.write(wrapOutboundOut(buffer), promise: promise)
        case .head(let response):
            let fields = FramingFields(response.headerFields)
            let (keepsAlive, connection) = answer.persistence.decide(for: fields, closing: answer.closing || quiescing)
            var buffer = context.channel.allocator.buffer(capacity: 0)
            answer.encoding = ResponseEncoding(head: response, fields: fields, version: answer.persistence.version, connection: connection,
                                               answersHEAD: answer.answersHEAD, date: HTTPDate.now(), server: serverName, into: &buffer)
            answer.closing = !keepsAlive
            self.answer = answer
            context.write(wrapOutboundOut(buffer), promise: promise)
        case .body(let part):
            switch answer.encoding {
            case .some where answer.answersHEAD:
                promise?.succeed(())  // an answer to HEAD: its body is not sent
            case .some(let encoding) where encoding.chunked && part.readableBytes > 0:
                // (An empty part goes as it is, unframed: an empty chunk would end the body.)
                let allocator = context.channel.allocator
                if let chunk = ResponseEncoding.chunk(part, allocator: allocator) {
                    context.write(wrapOutboundOut(chunk), promise: promise)
                } else {
                    context.write(wrapOutboundOut(ResponseEncoding.chunkSizeLine(part.readableBytes, allocator: allocator)), promise: nil)
                    context.write(wrapOutboundOut(part), promise: nil)
                    context.write(wrapOutboundOut(ResponseEncoding.chunkEnd), promise: promise)
                }
            default:
                context.write(wrapOutboundOut(part), promise: promise)
            }
        case .end(let trailers):
            self.answer = nil
            // A body framed by its length (or the connection's end) has nothing to end it.
            let end = answer.encoding?.chunked == true ? ResponseEncoding.lastChunk(trailers: trailers, allocator: context.channel.allocator) : nil
            if answer.closing || (waiting.isEmpty && !badRequestOwed && (quiescing || inputClosed) && !isReadingRequest) {
                return closeAfter(end, context: context, promise: promise)
            }
            if let end {
                context.write(wrapOutboundOut(end), promise: promise)
            } else if let promise {
                // Completed in order with the writes before it.
                context.write(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: promise)
            }
            // What comes after this answer: the next request waiting, the 400 owed, or reading on.
            if let next = waiting.popFirst() {
                respond(to: next, context: context)
            } else if badRequestOwed {
                writeBadRequestAndClose(context: context)
            } else {
                if case .collecting(let received, let body, expectsContinue: true) = reading {
                    reading = .collecting(received, body: body, expectsContinue: false)
                    writeContinue(received.persistence, context: context)
                }
                if readHeld, !isDropping {
                    readHeld = false
                    context.read()
                }
            }
        }
    }

    /// A request is being read (its end not come yet).
    private var isReadingRequest: Bool {
        switch reading {
        case .collecting, .discarding: true
        case .idle, .dropping: false
        }
    }

    /// Writes `end` (or nothing, in order with the writes before), then closes the connection.
    private func closeAfter(_ end: ByteBuffer?, context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        waiting.removeAll()
        reading = .dropping
        let written = context.eventLoop.makePromise(of: Void.self)
        written.futureResult.cascade(to: promise)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
        context.writeAndFlush(wrapOutboundOut(end ?? context.channel.allocator.buffer(capacity: 0)), promise: written)
    }

    // MARK: Failures and the connection's end

    /// A malformed request (the parser's error, or a method or path HTTP types refuse) gets a 400
    /// — after the answers owed ahead of it — and the connection closes: its framing is lost.
    private func failBadRequest(context: ChannelHandlerContext) {
        reading = .dropping
        if answer == nil {
            writeBadRequestAndClose(context: context)
        } else {
            badRequestOwed = true
        }
    }

    private func writeBadRequestAndClose(context: ChannelHandlerContext) {
        badRequestOwed = false
        let answer = "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n" as StaticString
        closeAfter(ByteBuffer(staticString: answer), context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Any other error (the socket's) ends the connection; a parse error after the connection
        // began to close changes nothing.
        guard error is HTTPParserError else { return context.close(promise: nil) }
        if !isDropping { failBadRequest(context: context) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is ChannelShouldQuiesceEvent:
            // Graceful shutdown: the answer in flight is the last (requests waiting behind it are
            // dropped unanswered, as a client of a closing server expects); with none in flight, a
            // request being read is answered first; an idle connection closes now.
            quiescing = true
            waiting.removeAll()
            if answer != nil {
                reading = .dropping
            } else if case .idle = reading {
                context.close(promise: nil)
            }
        case ChannelEvent.inputClosed:
            // The client sent all it will: what it sent whole is answered, then the connection closes.
            inputClosed = true
            if isReadingRequest { reading = .dropping }  // its end will not come
            if answer == nil, waiting.isEmpty { context.close(promise: nil) }
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The connection is gone: an answer's part still on its way (`AnswerParts`) finds nothing
        // owed and fails as a write to the closed channel would.
        answer = nil
        waiting.removeAll()
    }

    func channelInactive(context: ChannelHandlerContext) {
        waiting.removeAll()
        context.fireChannelInactive()
    }
}

/// Where the task answering a request writes the answer's parts: into its connection's handler, on
/// the connection's event loop — at once when called there, queued behind what the loop has to do
/// otherwise, as `Channel.write` delivers a write. Through the pipeline each part was boxed in
/// `NIOAny` and cast back by the handler, a heap box and a dynamic cast apiece (~6 K instructions
/// a call for head, body and end; bench/RESULTS.md, session 33).
struct AnswerParts: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<HTTP1ConnectionHandler>
    private let context: NIOLoopBound<ChannelHandlerContext>

    fileprivate init(handler: HTTP1ConnectionHandler, context: ChannelHandlerContext) {
        channel = context.channel
        self.handler = NIOLoopBound(handler, eventLoop: context.eventLoop)
        self.context = NIOLoopBound(context, eventLoop: context.eventLoop)
    }

    func write(_ part: HTTPResponsePart, flush: Bool = false, promise: EventLoopPromise<Void>? = nil) {
        let loop = channel.eventLoop
        if loop.inEventLoop {
            deliver(part, flush: flush, promise: promise)
        } else {
            loop.execute { deliver(part, flush: flush, promise: promise) }
        }
    }

    private func deliver(_ part: HTTPResponsePart, flush: Bool, promise: EventLoopPromise<Void>?) {
        let context = self.context.value
        handler.value.write(part, context: context, promise: promise)
        if flush { context.flush() }
    }
}

/// The body of a request that passed the size limit: collecting it fails the way Hummingbird's
/// collecting a streamed body past the limit does, with `NIOTooManyBytesError` (413).
private struct OversizedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let maxBytes: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        let maxBytes: Int
        func next() async throws -> ByteBuffer? { throw NIOTooManyBytesError(maxBytes: maxBytes) }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(maxBytes: maxBytes) }
}

extension HTTPFields {
    /// An HTTP/1 request's headers as fields, the first `Host` left out (it is the authority):
    /// what NIOHTTPTypesHTTP1's `HTTPFields(_:splitCookie: false)` makes, with each name lower-cased
    /// once — that one lower-cased every name a second time, to look for `Host`, until it met it.
    init(requestHeaders headers: HTTPHeaders) {
        self.init()
        reserveCapacity(headers.count)
        var firstHost = true
        for (name, value) in headers {
            guard let fieldName = HTTPField.Name(name) else { continue }
            if firstHost, fieldName.canonicalName == "host" {
                firstHost = false
                continue
            }
            append(HTTPField(name: fieldName, value: value))
        }
    }
}
