import HTTPTypes
import NIOCore
import NIOHTTP1

/// An answer as HTTP/1.x bytes: its head written in one pass into one buffer, its body framed as the
/// head says. What NIO's `HTTPResponseEncoder` did, from the HTTP types the router answers with:
/// it took a head converted to NIO's header list (a copy of every field) and wrote each name,
/// `": "`, value and line end as a buffer write of its own: writing an answer's parts cost ~27 K of a
/// passthrough call's ~465 K instructions, ~14 K now (bench/RESULTS.md, session 32) — and a
/// provider answers with more fields than the benchmark's.
///
/// Framing follows RFC 9112 §6 as NIO's encoder does: an answer that may not have a body (1xx, 204,
/// 304) loses `Content-Length` and `Transfer-Encoding`; one with a length keeps it and loses
/// `Transfer-Encoding`; any other gets `Transfer-Encoding: chunked` in HTTP/1.1 and is delimited by
/// the connection's end in HTTP/1.0. An answer to `HEAD` is framed as its `GET` would be, and its
/// body is not sent.
struct ResponseEncoding {
    /// The body is sent in chunks (never for an answer to `HEAD`: its body is not sent).
    let chunked: Bool

    /// Writes `response`'s head into `buffer`; `connection`, when given, replaces the answer's own
    /// `Connection` fields. `fields`: what `response`'s fields say of its framing. `date` and
    /// `server`, the connection's own, replace any the answer carries (a provider's among them):
    /// written here, they cost no search of the fields for one to replace.
    init(head response: HTTPResponse, fields: FramingFields, version: HTTPVersion, connection: StaticString?, answersHEAD: Bool,
         date: String, server: String?, into buffer: inout ByteBuffer) {
        let code = response.status.code
        let mayHaveBody = !(100..<200).contains(code) && code != 204 && code != 304
        let hasLength = fields.hasLength
        let addsChunked = mayHaveBody && !hasLength && version.minor >= 1
        let dropsLength = !mayHaveBody
        let dropsTransferEncoding = !mayHaveBody || hasLength || addsChunked
        chunked = addsChunked && !answersHEAD

        var size = 9 + 4 + response.status.reasonPhrase.utf8.count + 2 + 2  // "HTTP/1.1 200 " … CRLF, the final CRLF
        for field in response.headerFields {
            size += field.name.rawName.utf8.count + 2 + field.value.utf8.count + 2
        }
        if addsChunked { size += Self.chunkedField.utf8CodeUnitCount }
        if let connection { size += 12 + connection.utf8CodeUnitCount + 2 }
        size += 6 + date.utf8.count + 2
        if let server { size += 8 + server.utf8.count + 2 }

        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { bytes in
            var head = HeadWriter(bytes: bytes)
            head.append(version.minor >= 1 ? "HTTP/1.1 " : "HTTP/1.0 ")
            head.appendStatusCode(code)
            head.append(" ")
            head.append(response.status.reasonPhrase)
            head.append("\r\n")
            for field in response.headerFields {
                switch FramingFields.Kind(field.name) {
                case .length where dropsLength, .transferEncoding where dropsTransferEncoding, .connection where connection != nil, .date: continue
                case .server where server != nil: continue
                default: break
                }
                head.append(field.name.rawName)
                head.append(": ")
                head.append(field.value)
                head.append("\r\n")
            }
            head.append("date: ")
            head.append(date)
            head.append("\r\n")
            if let server {
                head.append("server: ")
                head.append(server)
                head.append("\r\n")
            }
            if addsChunked { head.append(Self.chunkedField) }
            if let connection {
                head.append("connection: ")
                head.append(connection)
                head.append("\r\n")
            }
            head.append("\r\n")
            return head.count
        }
    }

    private static let chunkedField: StaticString = "transfer-encoding: chunked\r\n"

    /// `part` framed as one chunk in one buffer, when it is small enough to copy (a stream's events):
    /// one write instead of three. Nil for a larger part, sent as it is between `chunkSizeLine` and
    /// `chunkEnd`.
    static func chunk(_ part: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer? {
        guard part.readableBytes <= 16_384 else { return nil }
        var chunk = allocator.buffer(capacity: 4 + 2 + part.readableBytes + 2)
        writeChunkSizeLine(part.readableBytes, into: &chunk)
        chunk.writeImmutableBuffer(part)
        chunk.writeStaticString("\r\n")
        return chunk
    }

    static func chunkSizeLine(_ size: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var line = allocator.buffer(capacity: 16)
        writeChunkSizeLine(size, into: &line)
        return line
    }

    private static func writeChunkSizeLine(_ size: Int, into buffer: inout ByteBuffer) {
        buffer.writeString(String(size, radix: 16))
        buffer.writeStaticString("\r\n")
    }

    static let chunkEnd = ByteBuffer(staticString: "\r\n")

    /// The last chunk, with the trailers if any.
    static func lastChunk(trailers: HTTPFields?, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard let trailers, !trailers.isEmpty else { return ByteBuffer(staticString: "0\r\n\r\n") }
        var buffer = allocator.buffer(capacity: 256)
        buffer.writeStaticString("0\r\n")
        for field in trailers {
            buffer.writeString(field.name.rawName)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
        return buffer
    }
}

/// What an answer's fields say of its framing and its connection, read in one pass (a look-up by
/// name in `HTTPFields` builds an index of every name first: ~2 K instructions each).
struct FramingFields {
    /// It has a `Content-Length`.
    private(set) var hasLength = false
    /// Its `Connection` options include `close`.
    private(set) var asksToClose = false

    init(_ fields: HTTPFields) {
        for field in fields {
            switch Kind(field.name) {
            case .length: hasLength = true
            case .connection:
                if !asksToClose {
                    asksToClose = field.value.split(separator: ",").contains { $0.filter { $0 != " " && $0 != "\t" }.lowercased() == "close" }
                }
            case .transferEncoding, .date, .server, .other: break
            }
        }
    }

    /// The fields that framing reads or rewrites, and those the connection sets itself.
    enum Kind {
        case length, transferEncoding, connection, date, server, other

        /// Told apart by length first: most names are not compared at all.
        init(_ name: HTTPField.Name) {
            let name = name.canonicalName
            switch name.utf8.count {
            case 4 where name == "date": self = .date
            case 6 where name == "server": self = .server
            case 10 where name == "connection": self = .connection
            case 14 where name == "content-length": self = .length
            case 17 where name == "transfer-encoding": self = .transferEncoding
            default: self = .other
            }
        }
    }
}
