import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

/// Collects one request (head, body up to `maxBodyBytes`, end), then answers it in a task.
///
/// The pipelining handler ahead of it delivers the next request only after the answer's end has
/// been written, so at most one request per connection is in flight here.
final class BufferedRequestHandler<Responder: HTTPResponder>: ChannelInboundHandler, RemovableChannelHandler
where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    private enum State {
        case idle
        case reading(HTTPRequest, body: ByteBuffer?)
        /// The body passed the limit: what came is dropped, what still comes is read and dropped,
        /// and the route that collects the body answers 413 on a connection that stays usable.
        case discarding(HTTPRequest)
        /// Answered before its body (see `answerExpectation`): the rest of the request is dropped.
        case answered
    }

    private let responder: Responder
    private let maxBodyBytes: Int
    private let serverName: String?
    private let logger: Logger
    private var state = State.idle

    init(responder: Responder, maxBodyBytes: Int, serverName: String?, logger: Logger) {
        self.responder = responder
        self.maxBodyBytes = maxBodyBytes
        self.serverName = serverName
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), _):
            state = .reading(head, body: nil)
            if head.headerFields[.expect]?.lowercased() == "100-continue" { answerExpectation(of: head, context: context) }
        case (.body(let part), .reading(let head, var body)):
            state = .idle  // lets `body` be appended to without a copy
            if (body?.readableBytes ?? 0) + part.readableBytes > maxBodyBytes {
                state = .discarding(head)
            } else if body == nil {
                state = .reading(head, body: part)
            } else {
                body!.writeImmutableBuffer(part)
                state = .reading(head, body: body)
            }
        case (.end, .reading(let head, let body)):
            state = .idle
            respond(to: Request(head: head, body: RequestBody(buffer: body ?? ByteBuffer())), channel: context.channel)
        case (.end, .discarding(let head)):
            state = .idle
            respond(to: Request(head: head, body: RequestBody(asyncSequence: OversizedBody(maxBytes: maxBodyBytes))), channel: context.channel)
        case (.end, .answered):
            state = .idle
        case (.body, _), (.end, .idle):
            break
        }
    }

    /// A client that waits to be told before it sends its body (`Expect: 100-continue`: curl asks
    /// for large bodies, and otherwise waits a second) is told to go on — or, when the announced
    /// length is already past the limit, gets its 413 at once on a connection that then closes
    /// (whether the client still sends the body is its choice, so what follows cannot be framed).
    private func answerExpectation(of head: HTTPRequest, context: ChannelHandlerContext) {
        if let length = head.headerFields[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            state = .answered
            respond(to: Request(head: head, body: RequestBody(asyncSequence: OversizedBody(maxBytes: maxBodyBytes))), channel: context.channel,
                    closing: true)
        } else {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
    }

    /// A malformed request has had its 400 from the protocol error handler ahead; after any error
    /// the connection's framing is lost, so it closes.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func respond(to request: Request, channel: any Channel, closing: Bool = false) {
        let responder = self.responder, serverName = self.serverName
        var logger = self.logger
        logger[metadataKey: "hb.request.id"] = .stringConvertible(RequestID())  // RequestContext.id reads it
        Task { [logger] in
            let context = Responder.Context(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch {
                // The error middleware answers every error itself; this is the framework's last resort.
                logger.error("unhandled error", metadata: ["error.type": "\(type(of: error))"])
                response = Response(status: .internalServerError)
            }
            response.headers[.date] = HTTPDate.now()
            if let serverName { response.headers[.server] = serverName }
            if closing { response.headers[.connection] = "close" }  // ConnectionPersistence closes after it
            let writer = ChannelResponseBodyWriter(channel: channel, head: response.head, streamed: response.body.contentLength == nil)
            do {
                try await response.body.write(writer)
            } catch {
                // Half an answer cannot be completed or followed by another one.
                logger.debug("answer not completed", metadata: ["error.type": "\(type(of: error))"])
                channel.close(promise: nil)
            }
        }
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
