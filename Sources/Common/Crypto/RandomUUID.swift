import Foundation
import Synchronization

extension UUID {
    /// A random (version 4) UUID, as `UUID()` makes, from the system's CSPRNG read in blocks.
    /// Foundation on Linux opens and reads /dev/urandom for every `UUID()`; the data plane makes
    /// several ids per call (step, run, reservation), so that was three system calls each.
    public static func random() -> UUID {
        var bytes = RandomBlock.shared.next16()
        bytes.6 = (bytes.6 & 0x0F) | 0x40  // version 4
        bytes.8 = (bytes.8 & 0x3F) | 0x80  // RFC 4122 variant
        return UUID(uuid: bytes)
    }
}

/// Random bytes fetched 4 KiB at a time (one read of /dev/urandom per 256 ids) and handed out once each.
private final class RandomBlock: Sendable {
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

    func next16() -> uuid_t {
        state.withLock { state in
            if state.offset + 16 > Self.size {
                state.bytes.withUnsafeMutableBytes(Self.fill)
                state.offset = 0
            }
            defer {
                // Used bytes are wiped: nothing handed out stays readable in the block.
                for index in state.offset..<state.offset + 16 { state.bytes[index] = 0 }
                state.offset += 16
            }
            return state.bytes.withUnsafeBytes { raw in raw.loadUnaligned(fromByteOffset: state.offset, as: uuid_t.self) }
        }
    }
}
