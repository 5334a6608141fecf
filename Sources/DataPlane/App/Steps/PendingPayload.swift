import Common
import NIOCore

/// A step's request and response as they were sent, with the key that will seal them.
///
/// Compressing and sealing a long agent request costs more than the rest of the call's own work
/// (bench/RESULTS.md, session 19), so it is done when the step leaves the recorder's queue, off the
/// request path. It never reaches the disk spool unsealed: spilling seals first.
public struct PendingPayload: Sendable {
    public let key: DataKey
    public let request: ByteBuffer
    public let response: ByteBuffer?

    /// Nil without a key: the org does not store payloads (or its key could not be read).
    public init?(key: DataKey?, request: ByteBuffer, response: ByteBuffer?) {
        guard let key else { return nil }
        self.key = key
        self.request = request
        self.response = response
    }

    /// Roughly what it holds in memory while queued.
    var byteCount: Int { request.readableBytes + (response?.readableBytes ?? 0) }

    /// Request and response together from this many bytes are compressed; shorter ones are sealed
    /// as sent. A zstd frame costs ~50 K instructions however short its content (a tenth of an
    /// 80-byte passthrough call's work) and saves at most a few hundred bytes there (bench/RESULTS.md,
    /// session 20).
    static let compressedFromBytes = 1024

    /// Compressed, then sealed: ciphertext does not compress, and an agent's request (its whole
    /// conversation so far) shrinks about 4×. Nil when either step fails (the step is kept without it).
    func sealed() -> SealedPayload? {
        let compression: PayloadCompression? = byteCount >= Self.compressedFromBytes ? .zstd : nil
        func seal(_ buffer: ByteBuffer) -> [UInt8]? {
            try? buffer.withUnsafeReadableBytes { bytes in
                compression == nil ? try key.seal(bytes, purpose: .payload) : try key.seal(Zstd.compress(bytes), purpose: .payload)
            }
        }
        guard let sealedRequest = seal(request) else { return nil }
        return SealedPayload(dataKeyID: key.id, request: sealedRequest, response: response.flatMap(seal), compression: compression)
    }
}
