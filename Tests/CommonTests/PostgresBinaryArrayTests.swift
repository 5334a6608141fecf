import Common
import Foundation
import NIOCore
import PostgresNIO
import Testing

/// `PostgresBinaryArray` writes the bytes postgres-nio's own array encoding writes, so a
/// statement's parameters mean the same whichever encoded them (the step and run batch inserts'
/// integration tests then read the rows back from a real PostgreSQL).
@Suite struct PostgresBinaryArrayTests {
    private func ours<Element: PostgresBinaryArrayElement & Sendable>(_ elements: [Element]) -> ByteBuffer {
        var buffer = ByteBuffer()
        PostgresBinaryArray(elements).encode(into: &buffer, context: .default)
        return buffer
    }

    private func theirs<Element: PostgresArrayEncodable & PostgresNonThrowingEncodable>(_ elements: [Element]) -> ByteBuffer {
        var buffer = ByteBuffer()
        elements.encode(into: &buffer, context: .default)
        return buffer
    }

    @Test func uuids() {
        let values = (0..<5).map { _ in UUID() }
        #expect(ours(values) == theirs(values))
        #expect(PostgresBinaryArray(values).psqlType == [UUID].psqlType)
        #expect(PostgresBinaryArray(values).psqlFormat == .binary)
    }

    @Test func integers() {
        let values = [0, 1, -1, Int.max, Int.min, 402, -42]
        #expect(ours(values) == theirs(values))
        #expect(PostgresBinaryArray(values).psqlType == [Int].psqlType)
        let wide: [Int64] = [0, -1, .max, .min]
        #expect(ours(wide) == theirs(wide))
    }

    @Test func timestampsIncludingFractionsAndDatesBefore2000() {
        let values = [Date(), Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 946_684_800.000_001_9),
                      Date(timeIntervalSince1970: 1_764_000_000.123_456_7), Date(timeIntervalSince1970: -12_345.678_9)]
        #expect(ours(values) == theirs(values))
        #expect(PostgresBinaryArray(values).psqlType == [Date].psqlType)
    }

    @Test func stringsOfEveryShape() {
        let values = ["", "gpt-4o-mini", "é ü 漢字 🚀", String(repeating: "x", count: 5_000), "nul\u{0}inside"]
        #expect(ours(values) == theirs(values))
        #expect(PostgresBinaryArray(values).psqlType == [String].psqlType)
    }

    @Test func bytesIncludingEmptyOnes() {
        let values = [ByteBuffer(), ByteBuffer(bytes: [0, 1, 2, 255]), ByteBuffer(repeating: 7, count: 10_000)]
        #expect(ours(values) == theirs(values))
        #expect(PostgresBinaryArray(values).psqlType == [ByteBuffer].psqlType)
        // Bytes in an array are bound as the same bytea.
        let arrays = values.map { Array(buffer: $0) }
        #expect(ours(arrays) == theirs(values))
        #expect(PostgresBinaryArray(arrays).psqlType == [ByteBuffer].psqlType)
    }

    @Test func emptyArraysHaveNoDimensions() {
        #expect(ours([UUID]()) == theirs([UUID]()))
        #expect(ours([String]()) == theirs([String]()))
        #expect(ours([Int]()).readableBytes == 12)
    }

    @Test func appendsAfterWhatTheBufferAlreadyHolds() {
        var buffer = ByteBuffer(string: "prefix")
        PostgresBinaryArray([1, 2]).encode(into: &buffer, context: .default)
        var expected = ByteBuffer(string: "prefix")
        [1, 2].encode(into: &expected, context: .default)
        #expect(buffer == expected)
    }
}
