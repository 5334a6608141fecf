import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// HTTP/1.1 connections whose requests are read whole by a channel handler and answered by the
/// router in a task of their own, writing straight to the channel.
///
/// Hummingbird's own transport wraps every connection in a `NIOAsyncChannel`: each request part
/// and each response part crosses an async stream (a lock, a continuation, a task switch). Every
/// data-plane route reads its whole body before it can decide anything, so that streaming bought
/// nothing here (measured in bench/RESULTS.md, session 9). Routing, middleware, request contexts,
/// graceful shutdown and the services stay Hummingbird's.
struct BufferedHTTP1Channel<Responder: HTTPResponder>: ServerChildChannel
where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
    struct Connection: ServerChildChannelValue {
        let channel: any Channel
    }

    let responder: Responder
    let maxBodyBytes: Int
    let serverName: String?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Connection> {
        channel.eventLoop.makeCompletedFuture {
            // The connection handler does pipelining, persistence, graceful shutdown, the 400 for a
            // malformed request and the answers' encoding itself: of NIO's HTTP handlers only the
            // request decoder is added.
            try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
            let responder = self.responder
            let respond: HTTP1ConnectionHandler.Respond = { request, source in
                try await responder.respond(to: request, context: Responder.Context(source: source))
            }
            try channel.pipeline.syncOperations.addHandler(
                HTTP1ConnectionHandler(respond: respond, maxBodyBytes: maxBodyBytes, serverName: serverName, logger: logger))
            return Connection(channel: channel)
        }
    }

    /// The handler answers on its own; the server's task per connection only waits for it to close,
    /// so a graceful shutdown still waits for the answers in flight.
    func handle(value: Connection, logger: Logger) async {
        try? await value.channel.closeFuture.get()
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with request bodies read whole (up to `maxBodyBytes`) before `responder` runs.
    static func bufferedHTTP1<Responder: HTTPResponder>(responder: Responder, maxBodyBytes: Int, serverName: String?) -> HTTPServerBuilder
    where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
        // Hummingbird's own responder writes through a NIOAsyncChannel; this transport has none.
        HTTPServerBuilder { _ in BufferedHTTP1Channel(responder: responder, maxBodyBytes: maxBodyBytes, serverName: serverName) }
    }
}
