import NIOCore
import NIOHTTP1

/// A provider's answer: its head as soon as it arrives, its body as it streams in.
struct UpstreamResponse: Sendable {
    let status: HTTPResponseStatus
    let headers: HTTPHeaders
    let body: UpstreamBody
}

/// The body's chunks in order, read from the provider only as fast as they are consumed (the
/// connection stops reading while a few chunks wait). Iterated once. Dropping it before its end
/// closes the connection instead of returning it to the pool.
struct UpstreamBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    typealias Producer = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, UpstreamBodyDelegate
    >

    let chunks: Producer

    func makeAsyncIterator() -> Producer.AsyncIterator { chunks.makeAsyncIterator() }

    /// The whole body, failing with `UpstreamError.tooLarge` past `maxBytes`.
    func collect(upTo maxBytes: Int) async throws -> ByteBuffer {
        let iterator = makeAsyncIterator()
        guard var whole = try await iterator.next() else { return ByteBuffer() }
        guard whole.readableBytes <= maxBytes else { throw UpstreamError.tooLarge }
        while var chunk = try await iterator.next() {
            guard whole.readableBytes + chunk.readableBytes <= maxBytes else { throw UpstreamError.tooLarge }
            whole.writeBuffer(&chunk)
        }
        return whole
    }
}

/// Tells the connection when the body's reader wants more, or is gone.
struct UpstreamBodyDelegate: NIOAsyncSequenceProducerDelegate {
    let produceMoreCallback: @Sendable () -> Void
    let didTerminateCallback: @Sendable () -> Void

    func produceMore() { produceMoreCallback() }
    func didTerminate() { didTerminateCallback() }
}
