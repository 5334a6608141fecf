#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Random bytes fetched 4 KiB at a time (one read of /dev/urandom per 256 ids) and handed out once
/// each: ids, and the nonces of AES-GCM seals (swift-crypto draws each from the standard library's
/// generator, two `getrandom` calls per nonce).
final class RandomBlock: Sendable {
    static let shared = RandomBlock()
    private static let size = 4096

    private struct State {
        var bytes = [UInt8](repeating: 0, count: RandomBlock.size)
        var offset = RandomBlock.size
    }

    private let state = Mutex(State())

    private static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var filled = 0
        #if canImport(Glibc)
        // One read of the kernel's CSPRNG for the whole block.
        let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        if descriptor >= 0 {
            while filled < buffer.count {
                let count = read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
                guard count > 0 else { break }
                filled += count
            }
            close(descriptor)
        }
        #endif
        // Elsewhere, or if reading /dev/urandom failed: the standard library's generator, 8 bytes at a time.
        var generator = SystemRandomNumberGenerator()
        while filled < buffer.count {
            withUnsafeBytes(of: generator.next() as UInt64) { word in
                let count = min(8, buffer.count - filled)
                buffer.baseAddress!.advanced(by: filled).copyMemory(from: word.baseAddress!, byteCount: count)
                filled += count
            }
        }
    }

    /// The next `MemoryLayout<T>.size` bytes of the block as a `T` (a tuple of bytes).
    func next<T>(as type: T.Type) -> T {
        let size = MemoryLayout<T>.size
        precondition(size <= Self.size)
        return state.withLock { state in
            if state.offset + size > Self.size {
                state.bytes.withUnsafeMutableBytes(Self.fill)
                state.offset = 0
            }
            defer {
                // Used bytes are wiped: nothing handed out stays readable in the block.
                for index in state.offset..<state.offset + size { state.bytes[index] = 0 }
                state.offset += size
            }
            return state.bytes.withUnsafeBytes { raw in raw.loadUnaligned(fromByteOffset: state.offset, as: T.self) }
        }
    }
}
