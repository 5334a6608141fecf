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
}
