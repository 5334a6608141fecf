import Foundation
import NIOCore
import PostgresNIO

/// A one-dimensional array bound as a parameter in PostgreSQL's binary array format, written in
/// one pass: its size is added up first, then every element goes into one reserved stretch of the
/// buffer. postgres-nio's own `Array` encoding writes each element through its generic
/// `encodeRaw` (a length placeholder, the value, the length set afterwards: two or three checked
/// buffer writes per element), which was ~5 % of a recorded call's instructions for the step
/// batch's ~45 elements per call (bench/RESULTS.md, session 15). The bytes are the same as
/// postgres-nio's (`PostgresBinaryArrayTests`), so a statement binds either.
public struct PostgresBinaryArray<Element: PostgresBinaryArrayElement>: PostgresDynamicTypeEncodable, Sendable
where Element: Sendable {
    public let elements: [Element]

    public init(_ elements: [Element]) {
        self.elements = elements
    }

    public var psqlType: PostgresDataType { Element.postgresArrayType }
    public var psqlFormat: PostgresFormat { .binary }

    public func encode<JSONEncoder: PostgresJSONEncoder>(into buffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        // Header: dimensions (0 for an empty array), a has-NULLs flag (never), the element type,
        // then for a non-empty array its length and lower bound (1).
        let headerSize = elements.isEmpty ? 12 : 20
        var size = headerSize
        for element in elements { size += 4 + element.postgresBinarySize }
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { target in
            let base = target.baseAddress!
            base.storeBytes(of: UInt32(elements.isEmpty ? 0 : 1).bigEndian, as: UInt32.self)
            base.storeBytes(of: Int32(0).bigEndian, toByteOffset: 4, as: Int32.self)
            base.storeBytes(of: Element.postgresElementType.rawValue.bigEndian, toByteOffset: 8, as: UInt32.self)
            guard !elements.isEmpty else { return size }
            base.storeBytes(of: Int32(elements.count).bigEndian, toByteOffset: 12, as: Int32.self)
            base.storeBytes(of: Int32(1).bigEndian, toByteOffset: 16, as: Int32.self)
            var offset = headerSize
            for element in elements {
                let length = element.postgresBinarySize
                base.storeBytes(of: Int32(length).bigEndian, toByteOffset: offset, as: Int32.self)
                element.writePostgresBinary(to: base + offset + 4)
                offset += 4 + length
            }
            return size
        }
    }
}

/// A value that can be an element of a `PostgresBinaryArray`: its binary form has a size known
/// before it is written.
public protocol PostgresBinaryArrayElement {
    static var postgresElementType: PostgresDataType { get }
    static var postgresArrayType: PostgresDataType { get }
    var postgresBinarySize: Int { get }
    /// Writes exactly `postgresBinarySize` bytes (unaligned).
    func writePostgresBinary(to target: UnsafeMutableRawPointer)
}

extension UUID: PostgresBinaryArrayElement {
    public static var postgresElementType: PostgresDataType { .uuid }
    public static var postgresArrayType: PostgresDataType { .uuidArray }
    public var postgresBinarySize: Int { 16 }
    public func writePostgresBinary(to target: UnsafeMutableRawPointer) {
        withUnsafeBytes(of: uuid) { target.copyMemory(from: $0.baseAddress!, byteCount: 16) }
    }
}

/// As postgres-nio binds an `Int`: `int8` (a statement casts where its column is narrower).
extension Int: PostgresBinaryArrayElement {
    public static var postgresElementType: PostgresDataType { .int8 }
    public static var postgresArrayType: PostgresDataType { .int8Array }
    public var postgresBinarySize: Int { 8 }
    public func writePostgresBinary(to target: UnsafeMutableRawPointer) {
        target.storeBytes(of: Int64(self).bigEndian, as: Int64.self)
    }
}

extension Int64: PostgresBinaryArrayElement {
    public static var postgresElementType: PostgresDataType { .int8 }
    public static var postgresArrayType: PostgresDataType { .int8Array }
    public var postgresBinarySize: Int { 8 }
    public func writePostgresBinary(to target: UnsafeMutableRawPointer) {
        target.storeBytes(of: bigEndian, as: Int64.self)
    }
}

/// `timestamptz`: microseconds since 2000-01-01 UTC, truncated as postgres-nio does.
extension Date: PostgresBinaryArrayElement {
    public static var postgresElementType: PostgresDataType { .timestamptz }
    public static var postgresArrayType: PostgresDataType { .timestamptzArray }
    public var postgresBinarySize: Int { 8 }
    public func writePostgresBinary(to target: UnsafeMutableRawPointer) {
        let microseconds = Int64(timeIntervalSince(Self.postgresEpoch) * 1_000_000)
        target.storeBytes(of: microseconds.bigEndian, as: Int64.self)
    }

    private static let postgresEpoch = Date(timeIntervalSince1970: 946_684_800)
}

extension String: PostgresBinaryArrayElement {
    public static var postgresElementType: PostgresDataType { .text }
    public static var postgresArrayType: PostgresDataType { .textArray }
    public var postgresBinarySize: Int { utf8.count }
    public func writePostgresBinary(to target: UnsafeMutableRawPointer) {
        // `withUTF8` makes a string that is not already contiguous UTF-8 so (native ones are).
        var string = self
        string.withUTF8 { copyRaw(UnsafeRawBufferPointer($0), to: target) }
    }
}

extension ByteBuffer: PostgresBinaryArrayElement {
    public static var postgresElementType: PostgresDataType { .bytea }
    public static var postgresArrayType: PostgresDataType { .byteaArray }
    public var postgresBinarySize: Int { readableBytes }
    public func writePostgresBinary(to target: UnsafeMutableRawPointer) {
        withUnsafeReadableBytes { copyRaw($0, to: target) }
    }
}

/// `bytea` from bytes already in an array (sealed payloads), without a `ByteBuffer` copy first.
extension Array: PostgresBinaryArrayElement where Element == UInt8 {
    public static var postgresElementType: PostgresDataType { .bytea }
    public static var postgresArrayType: PostgresDataType { .byteaArray }
    public var postgresBinarySize: Int { count }
    public func writePostgresBinary(to target: UnsafeMutableRawPointer) {
        withUnsafeBytes { copyRaw($0, to: target) }
    }
}

/// Copies `bytes` to `target` (an empty buffer may have no base address).
private func copyRaw(_ bytes: UnsafeRawBufferPointer, to target: UnsafeMutableRawPointer) {
    if let source = bytes.baseAddress { target.copyMemory(from: source, byteCount: bytes.count) }
}
