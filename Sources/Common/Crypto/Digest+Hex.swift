import Crypto

extension Sequence where Element == UInt8 {
    /// Lower-case hex, two characters a byte.
    public var hexString: String {
        var result = ""
        for byte in self {
            result.append(Character(Unicode.Scalar(hexDigits[Int(byte >> 4)])))
            result.append(Character(Unicode.Scalar(hexDigits[Int(byte & 0x0F)])))
        }
        return result
    }
}

private let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

extension SHA256Digest {
    public var hexString: String { Array(self).hexString }
}
