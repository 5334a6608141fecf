import NIOCore
import NIOHTTP1

/// Answers an HTTP/1.0 request as HTTP/1.0 (nginx's `proxy_pass` speaks it by default, as do
/// `ab` and old load balancers): the status line says 1.0, a body of unknown length (a stream)
/// ends with the connection instead of being chunked, which a 1.0 client cannot read, and the
/// connection stays open only when the client asked for it (`Connection: keep-alive`) and the
/// answer has a length. Informational answers (`100 Continue`) are not sent to a 1.0 client.
///
/// Sits below the translation to HTTP types, which drops the request's version.
final class HTTP10Compatibility: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Set while an HTTP/1.0 request is answered: whether it asked to keep the connection.
    private var keepAliveAsked: Bool?
    /// The answer under way to an HTTP/1.0 request ends with the connection.
    private var closing = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            keepAliveAsked = head.version == .http1_0 ? head.isKeepAlive : nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard let keepAliveAsked else { return context.write(data, promise: promise) }
        switch unwrapOutboundIn(data) {
        case .head(let head) where (100..<200).contains(head.status.code) && head.status != .switchingProtocols:
            promise?.succeed(())
        case .head(var head):
            head.version = .http1_0
            let keepAlive = keepAliveAsked && head.headers.contains(name: "content-length")
                && !head.headers["connection"].contains { $0.lowercased() == "close" }
            head.headers.replaceOrAdd(name: "connection", value: keepAlive ? "keep-alive" : "close")
            closing = !keepAlive
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            self.keepAliveAsked = nil
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
