import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Writes an answer straight to its channel, safe from any thread.
///
/// The head leaves with the first body part, and flushing waits for the event loop's next turn,
/// so a whole answer (head, body, end written back to back) reaches the socket in one write.
/// A stream's chunks are flushed as they come; when the client reads slower than the provider
/// writes, each chunk waits until the socket takes it.
struct ChannelResponseBodyWriter: ResponseBodyWriter {
    let channel: any Channel
    private var head: HTTPResponse?
    private let closeAfterwards: Bool

    init(channel: any Channel, head: HTTPResponse, closeAfterwards: Bool) {
        self.channel = channel
        self.head = head
        self.closeAfterwards = closeAfterwards
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        // A client that left stops the stream at its next chunk rather than at its end.
        guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
        writeHeadIfPending()
        if channel.isWritable {
            channel.write(HTTPResponsePart.body(buffer), promise: nil)
            let channel = self.channel
            channel.eventLoop.execute { channel.flush() }
        } else {
            let written = channel.eventLoop.makePromise(of: Void.self)
            channel.writeAndFlush(HTTPResponsePart.body(buffer), promise: written)
            try await written.futureResult.get()
        }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        writeHeadIfPending()
        guard closeAfterwards else { return channel.writeAndFlush(HTTPResponsePart.end(trailingHeaders), promise: nil) }
        let ended = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(HTTPResponsePart.end(trailingHeaders), promise: ended)
        let channel = self.channel
        ended.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    private mutating func writeHeadIfPending() {
        guard let head else { return }
        channel.write(HTTPResponsePart.head(head), promise: nil)
        self.head = nil
    }
}
