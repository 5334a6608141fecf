/// Base62 (0-9, A-Z, a-z) encoding of big-endian unsigned integers, fixed width.
///
/// Tokens use it because it survives copy-paste, URLs and shell quoting without escaping.
public enum Base62 {
    public static let alphabet: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// Encodes `bytes` as a big-endian number, left-padded with "0" to `width` characters.
    public static func encode(_ bytes: [UInt8], width: Int) -> String {
        var number = bytes
        var digits: [UInt8] = []
        digits.reserveCapacity(width)
        // Repeated division of the byte array by 62; quadratic, but inputs are 32 bytes.
        while number.contains(where: { $0 != 0 }) {
            var remainder = 0
            for index in number.indices {
                let accumulator = remainder * 256 + Int(number[index])
                number[index] = UInt8(accumulator / 62)
                remainder = accumulator % 62
            }
            digits.append(alphabet[remainder])
        }
        while digits.count < width { digits.append(alphabet[0]) }
        return String(decoding: digits.reversed(), as: UTF8.self)
    }

    /// Encodes a 32-bit value in `width` characters (more if it needs them), as `encode(_:width:)`
    /// does its big-endian bytes — by integer division, into a string short enough to need no
    /// allocation: every call on the data plane checks a token's checksum with it.
    public static func encode(_ value: UInt32, width: Int) -> String {
        var needed = 0, rest = value
        while rest > 0 { needed += 1; rest /= 62 }
        let count = max(width, needed)
        return String(unsafeUninitializedCapacity: count) { digits in
            var number = value
            for index in stride(from: count - 1, through: 0, by: -1) {
                digits[index] = alphabet[Int(number % 62)]
                number /= 62
            }
            return count
        }
    }

    /// Whether `digits` is `value` as `encode(_:width:)` writes it at their count: read from the
    /// last digit, with no string made.
    public static func spells(_ value: UInt32, _ digits: UnsafeBufferPointer<UInt8>) -> Bool {
        var number = value
        for digit in digits.reversed() {
            guard digit == alphabet[Int(number % 62)] else { return false }
            number /= 62
        }
        return number == 0
    }

    /// True when every byte is in the alphabet.
    public static func isValid<S: Sequence>(_ utf8: S) -> Bool where S.Element == UInt8 {
        utf8.allSatisfy { byte in
            (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
        }
    }
}
