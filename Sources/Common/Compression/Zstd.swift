import CZstd
import Synchronization

/// Zstandard frames through libzstd, one call each way.
///
/// Compression contexts are reused: each holds tables a fresh one would allocate and clear for
/// every payload. A frame always records its content size, so decompression allocates once.
public enum Zstd {
    public enum Failure: Error, Equatable {
        /// The bytes are not one complete frame this library can read.
        case malformedFrame
        /// The frame says it holds more than the caller allows.
        case tooLarge(declared: UInt64)
        /// libzstd could not compress (only an allocation failure can cause it).
        case compressionFailed
    }

    /// libzstd's fastest regular level: payloads are compressed on a data plane's cores, once each.
    public static let level: Int32 = 1

    /// A compression context, used by one call at a time: the pool hands each to one caller.
    private struct Context: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    /// Contexts not in use; a call takes one or makes one, and gives it back.
    private static let idleContexts = Mutex<[Context]>([])
    private static let maxIdleContexts = 16

    public static func compress(_ source: UnsafeRawBufferPointer) throws(Failure) -> [UInt8] {
        guard let context = idleContexts.withLock({ $0.popLast() }) ?? ZSTD_createCCtx().map(Context.init) else { throw .compressionFailed }
        defer {
            let kept = idleContexts.withLock { idle in
                guard idle.count < maxIdleContexts else { return false }
                idle.append(context)
                return true
            }
            if !kept { ZSTD_freeCCtx(context.pointer) }
        }
        let capacity = ZSTD_compressBound(source.count)
        var failed = false
        let frame = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            let written = ZSTD_compressCCtx(context.pointer, buffer.baseAddress, capacity, source.baseAddress, source.count, level)
            failed = ZSTD_isError(written) != 0
            count = failed ? 0 : written
        }
        if failed { throw .compressionFailed }
        return frame
    }

    public static func compress(_ bytes: [UInt8]) throws(Failure) -> [UInt8] {
        // `withUnsafeBytes` cannot rethrow a typed error: the result carries it out.
        let result = bytes.withUnsafeBytes { source in Result { () throws(Failure) in try compress(source) } }
        return try result.get()
    }

    /// The content of one frame, refused when it declares more than `limit` bytes.
    public static func decompress(_ frame: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        let declared = frame.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // UInt64.max and UInt64.max - 1 are ZSTD_CONTENTSIZE_UNKNOWN and _ERROR (macros Swift does not import).
        guard declared < UInt64.max - 1 else { throw .malformedFrame }
        guard declared <= UInt64(limit) else { throw .tooLarge(declared: declared) }
        let size = Int(declared)
        var failed = false
        let content = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            let written = frame.withUnsafeBytes { ZSTD_decompress(buffer.baseAddress, size, $0.baseAddress, $0.count) }
            failed = ZSTD_isError(written) != 0 || written != size
            count = failed ? 0 : written
        }
        if failed { throw .malformedFrame }
        return content
    }
}
