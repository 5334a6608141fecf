import Foundation

extension UUID {
    /// A random (version 4) UUID, as `UUID()` makes, from the system's CSPRNG read in blocks.
    /// Foundation on Linux opens and reads /dev/urandom for every `UUID()`; the data plane makes
    /// several ids per call (step, run, reservation), so that was three system calls each.
    public static func random() -> UUID {
        var bytes = RandomBlock.shared.next(as: uuid_t.self)
        bytes.6 = (bytes.6 & 0x0F) | 0x40  // version 4
        bytes.8 = (bytes.8 & 0x3F) | 0x80  // RFC 4122 variant
        return UUID(uuid: bytes)
    }

    /// A time-ordered (version 7, RFC 9562) UUID: the Unix time in milliseconds, then 74 random bits.
    /// For rows the data plane writes by the thousand (runs, steps and their payloads): a primary key
    /// that grows with time is inserted at the right edge of its B-tree, where a random one lands on
    /// any leaf — a page to read into memory and, after each checkpoint, to write whole into the WAL.
    public static func timeOrdered(at date: Date = Date()) -> UUID {
        var bytes = RandomBlock.shared.next(as: uuid_t.self)
        let milliseconds = UInt64(max(date.timeIntervalSince1970, 0) * 1000) & 0xFFFF_FFFF_FFFF
        bytes.0 = UInt8(truncatingIfNeeded: milliseconds >> 40)
        bytes.1 = UInt8(truncatingIfNeeded: milliseconds >> 32)
        bytes.2 = UInt8(truncatingIfNeeded: milliseconds >> 24)
        bytes.3 = UInt8(truncatingIfNeeded: milliseconds >> 16)
        bytes.4 = UInt8(truncatingIfNeeded: milliseconds >> 8)
        bytes.5 = UInt8(truncatingIfNeeded: milliseconds)
        bytes.6 = (bytes.6 & 0x0F) | 0x70  // version 7
        bytes.8 = (bytes.8 & 0x3F) | 0x80  // RFC 4122 variant
        return UUID(uuid: bytes)
    }
}
