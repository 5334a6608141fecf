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
    public var hexString: String { hexString(firstBytes: Self.byteCount) }

    /// The first `count` bytes of the digest in lower-case hex (a shortened fingerprint), written
    /// without the whole digest's text to cut.
    public func hexString(firstBytes count: Int) -> String {
        withUnsafeBytes { bytes in
            let count = Swift.min(count, bytes.count)
            return String(unsafeUninitializedCapacity: count * 2) { text in
                Hex.write(UnsafeBufferPointer(rebasing: bytes.bindMemory(to: UInt8.self)[..<count]), into: text, at: 0)
            }
        }
    }
}

extension UUID {
    /// The canonical lower-case form (`8-4-4-4-12` hex digits), as ids appear in Rungate's API.
    /// Foundation's `uuidString` formats with `snprintf` (~0.7 µs a call), and the API wants it
    /// lower-cased besides; a call's answer, step and events carry several.
    public var lowercasedString: String {
        String(unsafeUninitializedCapacity: 36) { text in writeLowercased(into: text, at: 0) }
    }

    /// Writes the canonical lower-case form (36 bytes) into `text` at `start`; returns where it ends.
    /// The 16 bytes written out one by one, straight from the tuple (a governed call writes about
    /// nine ids into its Redis keys and steps: by groups, with their bounds read from a table and
    /// the digits from a tuple, each cost ~370 instructions).
    public func writeLowercased(into text: UnsafeMutableBufferPointer<UInt8>, at start: Int) -> Int {
        precondition(start >= 0 && start + 36 <= text.count, "no room for an id")
        var target = text.baseAddress! + start
        func byte(_ value: UInt8) {
            target[0] = Hex.digit(value >> 4)
            target[1] = Hex.digit(value)
            target += 2
        }
        func dash() {
            target[0] = UInt8(ascii: "-")
            target += 1
        }
        let bytes = uuid
        byte(bytes.0); byte(bytes.1); byte(bytes.2); byte(bytes.3); dash()
        byte(bytes.4); byte(bytes.5); dash()
        byte(bytes.6); byte(bytes.7); dash()
        byte(bytes.8); byte(bytes.9); dash()
        byte(bytes.10); byte(bytes.11); byte(bytes.12); byte(bytes.13); byte(bytes.14); byte(bytes.15)
        return start + 36
    }
}

extension UUID {
    /// Reads the canonical `8-4-4-4-12` form, hex digits in either case; nil for anything else
    /// (spaces, signs, braces, missing dashes). Foundation's `init(uuidString:)` parses with
    /// `sscanf` (~8 k instructions; a call naming its run paid that each time), which also reads
    /// some of those as another id.
    public init?(canonical text: some StringProtocol) {
        let utf8 = text.utf8
        guard let parsed = utf8.withContiguousStorageIfAvailable(Self.parse) ?? Array(utf8).withUnsafeBufferPointer(Self.parse) else {
            return nil
        }
        self = parsed
    }

    /// Byte ranges of the five dash-separated groups (made once, not per id).
    private static let hexGroups = [(0, 4), (4, 6), (6, 8), (8, 10), (10, 16)]

    private static func parse(_ text: UnsafeBufferPointer<UInt8>) -> UUID? {
        guard text.count == 36 else { return nil }
        var bytes: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let complete = withUnsafeMutableBytes(of: &bytes) { bytes -> Bool in
            var at = 0
            for (index, (start, end)) in hexGroups.enumerated() {
                if index > 0 {
                    guard text[at] == UInt8(ascii: "-") else { return false }
                    at += 1
                }
                for byte in start..<end {
                    guard let high = Hex.value(of: text[at]), let low = Hex.value(of: text[at + 1]) else { return false }
                    bytes[byte] = high << 4 | low
                    at += 2
                }
            }
            return true
        }
        return complete ? UUID(uuid: bytes) : nil
    }
}

enum Hex {
    /// The value of one hex digit, either case.
    static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static let digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
        (0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66)

    /// The lower-case hex digit of a value below 16.
    static func digit(_ nibble: UInt8) -> UInt8 {
        withUnsafeBytes(of: digits) { $0[Int(nibble & 0x0F)] }
    }

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
