/// Copies a head's pieces into memory reserved for all of them: an answer's (`ResponseEncoding`)
/// or a provider request's (`RequestEncoding`).
struct HeadWriter {
    let bytes: UnsafeMutableRawBufferPointer
    private(set) var count = 0

    init(bytes: UnsafeMutableRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func append(_ string: StaticString) {
        let source = UnsafeRawBufferPointer(start: string.utf8Start, count: string.utf8CodeUnitCount)
        UnsafeMutableRawBufferPointer(rebasing: bytes[count...]).copyMemory(from: source)
        count += source.count
    }

    mutating func append(_ string: String) {
        let copied = string.utf8.withContiguousStorageIfAvailable { source in
            UnsafeMutableRawBufferPointer(rebasing: bytes[count...]).copyMemory(from: UnsafeRawBufferPointer(source))
            return source.count
        }
        if let copied {
            count += copied
        } else {
            for byte in string.utf8 {
                bytes[count] = byte
                count += 1
            }
        }
    }

    /// A status code's three digits (HTTP types keep it in 100…999).
    mutating func appendStatusCode(_ code: Int) {
        bytes[count] = UInt8(ascii: "0") + UInt8(code / 100)
        bytes[count + 1] = UInt8(ascii: "0") + UInt8(code / 10 % 10)
        bytes[count + 2] = UInt8(ascii: "0") + UInt8(code % 10)
        count += 3
    }
}
