import Crypto
import Foundation

extension Sequence where Element == UInt8 {
    /// Lower-case hex, two characters a byte.
    public var hexString: String {
        let bytes = Array(self)
        return bytes.withUnsafeBufferPointer { bytes in
            String(unsafeUninitializedCapacity: bytes.count * 2) { text in
                Hex.write(bytes, into: text, at: 0)
                return bytes.count * 2
            }
        }
    }
}

extension SHA256Digest {
    public var hexString: String {
        withUnsafeBytes { bytes in
            String(unsafeUninitializedCapacity: bytes.count * 2) { text in
                Hex.write(bytes.bindMemory(to: UInt8.self), into: text, at: 0)
                return bytes.count * 2
            }
        }
    }
}

extension UUID {
    /// Byte ranges of the five dash-separated groups (made once, not per id).
    private static let hexGroups = [(0, 4), (4, 6), (6, 8), (8, 10), (10, 16)]

    /// The canonical lower-case form (`8-4-4-4-12` hex digits), as ids appear in Rungate's API.
    /// Foundation's `uuidString` formats with `snprintf` (~0.7 µs a call), and the API wants it
    /// lower-cased besides; a call's answer, step and events carry several.
    public var lowercasedString: String {
        withUnsafeBytes(of: uuid) { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            return String(unsafeUninitializedCapacity: 36) { text in
                var at = 0
                for (start, end) in Self.hexGroups {
                    if start > 0 {
                        text[at] = UInt8(ascii: "-")
                        at += 1
                    }
                    at = Hex.write(UnsafeBufferPointer(rebasing: bytes[start..<end]), into: text, at: at)
                }
                return at
            }
        }
    }
}

enum Hex {
    private static let digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66)

    /// Writes `bytes` as lower-case hex into `text` from `at`; returns where it stopped.
    @discardableResult
    static func write(_ bytes: UnsafeBufferPointer<UInt8>, into text: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
        withUnsafeBytes(of: digits) { digits in
            var at = start
            for byte in bytes {
                text[at] = digits[Int(byte >> 4)]
                text[at + 1] = digits[Int(byte & 0x0F)]
                at += 2
            }
            return at
        }
    }
}
