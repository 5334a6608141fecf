import NIOCore

/// One Redis command, encoded as RESP while its arguments are appended: strings and bytes are
/// copied once into the buffer and integers written as ASCII digits, with no `String` or array per
/// argument on the way (a governed call sends some 35 arguments; building a string for each, and
/// its `$<length>` header, was a tenth of its Redis client's work).
public struct RedisCommand: Sendable {
    /// Room kept in front of the arguments for the array header (`*<count>\r\n`, 13 bytes at
    /// most), which is only known once every argument is in.
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
        let utf8 = string.utf8
        appendBulk(length: utf8.count) { destination in
            if utf8.withContiguousStorageIfAvailable({ destination.copyMemory(from: UnsafeRawBufferPointer($0)) }) == nil {
                for (index, byte) in utf8.enumerated() { destination[index] = byte }
            }
        }
    }

    public mutating func append(_ bytes: [UInt8]) {
        appendBulk(length: bytes.count) { destination in
            bytes.withUnsafeBytes { destination.copyMemory(from: $0) }
        }
    }

    /// Signed 64-bit integers only: a generic `BinaryInteger` converted here would trap on an
    /// unsigned value above `Int64.max`.
    public mutating func append(_ value: Int64) {
        appendBulk(length: DecimalText.length(of: value)) { DecimalText.write(value, into: $0) }
    }

    public mutating func append(_ value: Int) {
        append(Int64(value))
    }

    /// The command as it goes on the wire: the array header, then the arguments. Consuming, so the
    /// header goes into the command's own buffer (a copy still holding it would make the write copy
    /// the whole buffer first).
    consuming func encoded() -> ByteBuffer {
        let length = DecimalText.length(of: Int64(count)) + 3
        let start = buffer.readerIndex - length
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: length) { header in
            let raw = UnsafeMutableRawBufferPointer(header)
            raw[0] = UInt8(ascii: "*")
            DecimalText.write(Int64(count), into: UnsafeMutableRawBufferPointer(rebasing: raw[1..<(length - 2)]))
            raw[length - 2] = UInt8(ascii: "\r")
            raw[length - 1] = UInt8(ascii: "\n")
            buffer.setBytes(UnsafeRawBufferPointer(raw), at: start)
        }
        buffer.moveReaderIndex(to: start)
        return buffer
    }

    /// `$<length>\r\n<payload>\r\n` in one write: `payload` fills exactly `length` bytes.
    private mutating func appendBulk(length: Int, _ payload: (UnsafeMutableRawBufferPointer) -> Void) {
        let digits = DecimalText.length(of: Int64(length))
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 1 + digits + 2 + length + 2) { out in
            out[0] = UInt8(ascii: "$")
            DecimalText.write(Int64(length), into: UnsafeMutableRawBufferPointer(rebasing: out[1..<(1 + digits)]))
            var at = 1 + digits
            out[at] = UInt8(ascii: "\r")
            out[at + 1] = UInt8(ascii: "\n")
            at += 2
            payload(UnsafeMutableRawBufferPointer(rebasing: out[at..<(at + length)]))
            at += length
            out[at] = UInt8(ascii: "\r")
            out[at + 1] = UInt8(ascii: "\n")
            return at + 2
        }
        count += 1
    }
}
