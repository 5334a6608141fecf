/// How a stored payload's plaintext was encoded before it was sealed: `payloads.compression`.
///
/// Rows without one (written before migration 0008, or by an older data plane during an upgrade)
/// hold the bytes as they were sent. Compressing before sealing is the only order that works:
/// ciphertext does not compress (PostgreSQL's own TOAST compression gives up on it).
public enum PayloadCompression: String, Sendable, Codable {
    case zstd

    /// Above any body a data plane takes in or answer it keeps; a frame that declares more is
    /// refused without being expanded.
    public static let maxPlaintextBytes = 256 << 20

    /// What was sent, from what a sealed payload opens to.
    public static func plaintext(_ opened: [UInt8], compression: PayloadCompression?) throws(Zstd.Failure) -> [UInt8] {
        switch compression {
        case nil: opened
        case .zstd: try Zstd.decompress(opened, limit: maxPlaintextBytes)
        }
    }
}
