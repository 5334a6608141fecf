import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Writes an answer straight to its channel, safe from any thread.
///
/// A whole answer's head leaves with its body, and flushing waits for the event loop's next turn,
/// so head, body and end written back to back reach the socket in one write. A stream's head
/// leaves at once (a provider may think for seconds before its first token, and clients and load
/// balancers time out waiting for headers), its chunks are flushed as they come; when the client
/// reads slower than the provider writes, each chunk waits until the socket takes it.
struct ChannelResponseBodyWriter: ResponseBodyWriter {
    let channel: any Channel
    private var head: HTTPResponse?
    private let closeAfterwards: Bool

    /// `streamed`: the body's length is unknown (a stream), so the head is sent now.
    init(channel: any Channel, head: HTTPResponse, streamed: Bool, closeAfterwards: Bool) {
        self.channel = channel
        self.head = head
        self.closeAfterwards = closeAfterwards
        if streamed {
            writeHeadIfPending()
            channel.flush()
        }
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
