/// `JSONValue` to JSON text without Codable: keys sorted by their UTF-8 bytes, slashes unescaped —
/// byte for byte what `JSONEncoder.sortedKeys` writes (tested against it), so digests and stored
/// documents are unchanged. Foundation's encoder spent ~30 k instructions on a two-member object:
/// every refusal (402, 403, 429), every probe of `/healthz` paid that.
public enum JSONSerializer {
    public static func bytes(_ value: JSONValue) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(128)
        write(value, into: &output)
        return output
    }

    public static func write(_ value: JSONValue, into output: inout [UInt8]) {
        switch value {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let flag): output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let number): write(number, into: &output)
        case .string(let text): write(text, into: &output)
        case .array(let elements):
            output.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                write(element, into: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            write(members: members, omitting: { _ in false }, into: &output)
        }
    }

    /// The object `members` make, as `write` writes it, without the members `omitted` picks: a
    /// digest of what is left needs no copy of the object without them.
    public static func write(members: [String: JSONValue], omitting omitted: (String) -> Bool, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        var first = true
        for (key, member) in members.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) where !omitted(key) {
            if !first { output.append(UInt8(ascii: ",")) }
            first = false
            write(key, into: &output)
            output.append(UInt8(ascii: ":"))
            write(member, into: &output)
        }
        output.append(UInt8(ascii: "}"))
    }

    /// As `JSONValue` encodes numbers: integers (exact below 2^53) without a fraction, the rest as
    /// Foundation prints a `Double` (Swift's shortest form that reads back the same).
    private static func write(_ number: Double, into output: inout [UInt8]) {
        // JSON has no NaN or infinity (Foundation refused the whole document): the number is null.
        guard number.isFinite else { return output.append(contentsOf: "null".utf8) }
        if number.rounded() == number, abs(number) < 9_007_199_254_740_992 {
            output.append(contentsOf: String(Int64(number)).utf8)
        } else {
            // Foundation drops the ".0" Swift prints after a whole number (2^53 and up to 1e16).
            let text = number.description
            output.append(contentsOf: text.hasSuffix(".0") ? text.utf8.dropLast(2) : text.utf8[...])
        }
    }

    /// Runs of bytes that need no escape are found eight bytes at a time and copied whole: a
    /// request's texts are mostly such runs, and a byte at a time cost ~70 instructions per byte (a
    /// 40 KB conversation: 2.9 M per governed call, for its loop fingerprint).
    private static func write(_ text: String, into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var run = 0
            var index = 0
            while index < bytes.count {
                index = PlainJSONText.skip(UnsafeRawBufferPointer(bytes), from: index).end
                guard index < bytes.count else { break }
                let byte = bytes[index]
                if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<index]))
                    writeEscape(byte, into: &output)
                    run = index + 1
                }
                index += 1
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...]))
        }
        output.append(UInt8(ascii: "\""))
    }

    private static func writeEscape(_ byte: UInt8, into output: inout [UInt8]) {
        let short: UInt8? = switch byte {
        case UInt8(ascii: "\""): UInt8(ascii: "\"")
        case UInt8(ascii: "\\"): UInt8(ascii: "\\")
        case 0x08: UInt8(ascii: "b")
        case 0x0C: UInt8(ascii: "f")
        case 0x0A: UInt8(ascii: "n")
        case 0x0D: UInt8(ascii: "r")
        case 0x09: UInt8(ascii: "t")
        default: nil
        }
        output.append(UInt8(ascii: "\\"))
        if let short { return output.append(short) }
        output.append(contentsOf: "u00".utf8)
        output.append(Hex.digit(byte >> 4))
        output.append(Hex.digit(byte))
    }
}
