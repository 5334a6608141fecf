import NIOCore
import NIOHTTP1

/// A provider's answer: its head as soon as it arrives (with the whole body, for a bounded one), its
/// body as it streams in otherwise.
struct UpstreamResponse: Sendable {
    let status: HTTPResponseStatus
    let headers: HTTPHeaders
    let body: UpstreamBody
}

/// The body's chunks in order. An answer of known, bounded length that is not an event stream
/// arrives whole with its head: per call, a body stream's machinery (its producer, state machine
/// and the generic code behind them) cost more than reading a few hundred bytes. Any other is read
/// from the provider only as fast as it is consumed (the connection stops reading while a few chunks
/// wait). Iterated once. Dropping a stream before its end closes the connection instead of
/// returning it to the pool.
struct UpstreamBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    typealias Producer = NIOThrowingAsyncSequenceProducer<
        ByteBuffer, any Error, NIOAsyncSequenceProducerBackPressureStrategies.HighLowWatermark, UpstreamBodyDelegate
    >

    private enum Storage: Sendable {
        case whole(ByteBuffer)
        case chunks(Producer)
    }

    private let storage: Storage

    init(chunks: Producer) {
        storage = .chunks(chunks)
    }

    init(whole: ByteBuffer) {
        storage = .whole(whole)
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate var whole: ByteBuffer?
        fileprivate let chunks: Producer.AsyncIterator?

        mutating func next() async throws -> ByteBuffer? {
            if let chunks { return try await chunks.next() }
            defer { whole = nil }
            return whole
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        switch storage {
        case .whole(let buffer): AsyncIterator(whole: buffer.readableBytes > 0 ? buffer : nil, chunks: nil)
        case .chunks(let producer): AsyncIterator(whole: nil, chunks: producer.makeAsyncIterator())
        }
    }

    /// The whole body, failing with `UpstreamError.tooLarge` past `maxBytes`.
    func collect(upTo maxBytes: Int) async throws -> ByteBuffer {
        var iterator = makeAsyncIterator()
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
