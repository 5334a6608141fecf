import NIOCore

/// One Redis command, encoded as RESP while its arguments are appended: strings and bytes are
/// copied once into the buffer and integers written as ASCII digits, with no `String` or array per
/// argument on the way (a governed call sends some 35 arguments; building a string for each, and
/// its `$<length>` header, was a tenth of its Redis client's work).
public struct RedisCommand: Sendable {
    /// Room kept in front of the arguments for the array header (`*<count>\r\n`), which is only
    /// known once every argument is in.
    private static let headroom = 16
    private var buffer: ByteBuffer
    public private(set) var count = 0

    public init(capacity: Int = 256) {
        buffer = ByteBufferAllocator().buffer(capacity: Self.headroom + capacity)
        buffer.moveWriterIndex(forwardBy: Self.headroom)
        buffer.moveReaderIndex(forwardBy: Self.headroom)
    }

    /// A command of plain string arguments, e.g. `RedisCommand(["GET", key])`.
    public init(_ arguments: [String]) {
        self.init(capacity: arguments.reduce(0) { $0 + $1.utf8.count + 16 })
        for argument in arguments { append(argument) }
    }

    public mutating func append(_ string: String) {
        writeLength(string.utf8.count)
        buffer.writeString(string)
        buffer.writeStaticString("\r\n")
        count += 1
    }

    public mutating func append(_ bytes: [UInt8]) {
        writeLength(bytes.count)
        buffer.writeBytes(bytes)
        buffer.writeStaticString("\r\n")
        count += 1
    }

    public mutating func append(_ integer: some BinaryInteger) {
        withDecimalDigits(of: Int64(integer)) { digits in
            writeLength(digits.count)
            buffer.writeBytes(digits)
        }
        buffer.writeStaticString("\r\n")
        count += 1
    }

    /// The command as it goes on the wire: the array header, then the arguments.
    var encoded: ByteBuffer {
        var framed = buffer
        withDecimalDigits(of: Int64(count)) { digits in
            let start = framed.readerIndex - digits.count - 3
            framed.setInteger(UInt8(ascii: "*"), at: start)
            framed.setBytes(digits, at: start + 1)
            framed.setStaticString("\r\n", at: start + 1 + digits.count)
            framed.moveReaderIndex(to: start)
        }
        return framed
    }

    private mutating func writeLength(_ length: Int) {
        buffer.writeInteger(UInt8(ascii: "$"))
        withDecimalDigits(of: Int64(length)) { buffer.writeBytes($0) }
        buffer.writeStaticString("\r\n")
    }
}

/// `value` in decimal ASCII, in a stack buffer.
private func withDecimalDigits<T>(of value: Int64, _ body: (UnsafeRawBufferPointer) -> T) -> T {
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
        var magnitude = value.magnitude
        var start = digits.count
        repeat {
            start -= 1
            digits[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
            magnitude /= 10
        } while magnitude > 0
        if value < 0 {
            start -= 1
            digits[start] = UInt8(ascii: "-")
        }
        return body(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: digits[start...])))
    }
}
