import NIOCore
import NIOHTTP1

/// Decides for each answer whether its connection stays open, and closes it after the answer's end
/// when not: the one place that does, for a client that asked (`Connection: close`), an answer
/// that says so (a 413 given before the body it refuses), and HTTP/1.0.
///
/// An HTTP/1.0 request (nginx's `proxy_pass` speaks it by default, as do `ab` and old load
/// balancers) is answered in HTTP/1.0: the connection stays open only when the client asked for it
/// (`Connection: keep-alive`) and the answer has a length; a body of unknown length (a stream) goes
/// unchunked, which is all a 1.0 client can read, and ends with the connection; informational
/// answers (`100 Continue`) are not sent.
///
/// Sits below the translation to HTTP types, which drops the request's version.
final class ConnectionPersistence: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// The request being answered: its version, and whether it may keep the connection.
    private var request: (version: HTTPVersion, keepAlive: Bool)?
    /// The answer under way ends with the connection.
    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) { request = (head.version, head.isKeepAlive) }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let request else { return context.write(data, promise: promise) }
        let http10 = request.version == .http1_0
        switch unwrapOutboundIn(data) {
        case .head(let head) where (100..<200).contains(head.status.code) && head.status != .switchingProtocols:
            guard http10 else { return context.write(data, promise: promise) }
            promise?.succeed(())
        case .head(var head):
            // The head comes from the HTTP types as HTTP/1.1, so NIO's `isKeepAlive` means "no `Connection: close`".
            let keepAlive = request.keepAlive && head.isKeepAlive && (!http10 || head.headers.contains(name: "content-length"))
            closing = !keepAlive
            // The usual answer (HTTP/1.1, kept alive) goes on as it came, without being re-wrapped.
            guard http10 || !keepAlive else { return context.write(data, promise: promise) }
            if http10 {
                head.version = .http1_0
                head.headers.replaceOrAdd(name: "connection", value: keepAlive ? "keep-alive" : "close")
            } else {
                head.headers.replaceOrAdd(name: "connection", value: "close")
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            self.request = nil
            guard closing else { return context.write(data, promise: promise) }
            closing = false
            let written = context.eventLoop.makePromise(of: Void.self)
            written.futureResult.cascade(to: promise)
            let channel = context.channel
            written.futureResult.whenComplete { _ in channel.close(promise: nil) }
            context.writeAndFlush(data, promise: written)
        }
    }
}
