import NIOCore
import NIOHTTP1

/// A provider request's head as HTTP/1.1 bytes, written in one pass into one buffer. NIO's
/// `HTTPRequestEncoder` and `NIOHTTPRequestHeadersValidator` did this as two handlers, the head
/// boxed on its way into each and cast back out, a buffer write per name, separator, value and
/// line end (~11 K instructions a call; bench/RESULTS.md, session 33).
///
/// Checked as that validator checks, so that nothing stored — a provider key, a base URL — can
/// inject a field or a second request: the method a token, the target only the bytes RFC 9112
/// allows in a request-target (anything else must be percent-encoded), each name a token, each
/// value free of control characters but tab (RFC 9110 §5.5: CR, LF and NUL above all).
enum RequestEncoding {
    /// The head, or nil when a byte of it may not be sent.
    static func head(method: HTTPMethod, target: String, headers: HTTPHeaders, allocator: ByteBufferAllocator) -> ByteBuffer? {
        let methodName = method.rawValue
        guard !methodName.isEmpty, all(methodName, isTokenByte), !target.isEmpty, all(target, isTargetByte) else { return nil }
        var size = methodName.utf8.count + 1 + target.utf8.count + Self.version.utf8CodeUnitCount + 2
        for (name, value) in headers {
            guard !name.isEmpty, all(name, isTokenByte), all(value, isValueByte) else { return nil }
            size += name.utf8.count + 2 + value.utf8.count + 2
        }
        var buffer = allocator.buffer(capacity: size)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { bytes in
            var head = HeadWriter(bytes: bytes)
            head.append(methodName)
            head.append(" ")
            head.append(target)
            head.append(Self.version)
            for (name, value) in headers {
                head.append(name)
                head.append(": ")
                head.append(value)
                head.append("\r\n")
            }
            head.append("\r\n")
            return head.count
        }
        return buffer
    }

    private static let version: StaticString = " HTTP/1.1\r\n"

    private static func all(_ text: String, _ allowed: (UInt8) -> Bool) -> Bool {
        text.utf8.withContiguousStorageIfAvailable { $0.allSatisfy(allowed) } ?? text.utf8.allSatisfy(allowed)
    }

    /// RFC 9110 §5.6.2 tchar.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default:
            false
        }
    }

    /// Printable ASCII, tab and non-ASCII; no other control character.
    static func isValueByte(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "\t") || (byte > 0x1F && byte != 0x7F)
    }

    /// What RFC 9112 §3.2 (through RFC 3986) lets a request-target hold literally.
    static func isTargetByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
             UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "?"), UInt8(ascii: "#"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "@"),
             UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="), UInt8(ascii: "%"):
            true
        default:
            false
        }
    }
}
