import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Writes an answer straight to its connection's handler (`AnswerParts`), safe from any thread.
///
/// A whole answer (its length known) is flushed once, with its end: head, body and end reach the
/// socket in one write, and cross the pipeline's flush path once (a flush per write crossed it a
/// second time for nothing: the end's flush followed at once). A stream's head leaves
/// with its first chunk when that comes within `streamHeadWait` — as it does when the provider's
/// head and first event arrive together: one segment, one wake-up of the client instead of two —
/// and alone after it otherwise (a provider may think for seconds before its first token, and
/// clients and load balancers time out waiting for headers). A stream's first chunk is flushed at
/// once (the time to first token is what an agent's user waits for); later ones on the loop's next
/// turn, so chunks written back to back leave together. When the client reads slower than the
/// provider writes, each chunk waits until the socket takes it.
struct ChannelResponseBodyWriter: ResponseBodyWriter {
    static let streamHeadWait = TimeAmount.milliseconds(1)

    private let parts: AnswerParts
    private var channel: any Channel { parts.channel }
    private let head: PendingHead
    private let streamed: Bool
    private var wroteBody = false

    /// `streamed`: the body's length is unknown (a stream), so the head does not wait for its end.
    init(_ parts: AnswerParts, head: HTTPResponse, streamed: Bool) {
        self.parts = parts
        self.head = PendingHead(head)
        self.streamed = streamed
        if streamed {
            let pending = self.head
            parts.channel.eventLoop.scheduleTask(in: Self.streamHeadWait) {
                if let head = pending.take() { parts.write(.head(head), flush: true) }
            }
        }
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        // A client that left stops the stream at its next chunk rather than at its end.
        guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
        writeHeadIfPending()
        defer { wroteBody = true }
        if channel.isWritable {
            parts.write(.body(buffer))
            guard streamed else { return }
            if !wroteBody {
                channel.flush()
            } else {
                let channel = self.channel
                channel.eventLoop.execute { channel.flush() }
            }
        } else {
            let written = channel.eventLoop.makePromise(of: Void.self)
            parts.write(.body(buffer), flush: true, promise: written)
            try await written.futureResult.get()
        }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        writeHeadIfPending()
        // Whether the connection closes after it is `HTTP1ConnectionHandler`'s to decide.
        parts.write(.end(trailingHeaders), flush: true)
    }

    private func writeHeadIfPending() {
        guard let head = head.take() else { return }
        parts.write(.head(head))
    }
}

/// An answer's head until it is written: by the first write, or by a stream's timer, whichever
/// comes first — once.
private final class PendingHead: Sendable {
    private let head: Mutex<HTTPResponse?>

    init(_ head: HTTPResponse) {
        self.head = Mutex(head)
    }

    func take() -> HTTPResponse? {
        head.withLock { head in
            defer { head = nil }
            return head
        }
    }
}
