import Common
import TestSupport
import Testing

/// Payload compression: what goes in comes out, byte for byte; a frame that is not whole, or that
/// declares more than the reader allows, is refused rather than expanded.
@Suite struct ZstdTests {
    @Test func roundTripsEverySizeAndShrinksWhatRepeats() throws {
        var random = SeededGenerator(seed: 20261201)
        for size in [0, 1, 7, 100, 4_096, 40_000, 300_000] {
            let bytes = (0..<size).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(try Zstd.decompress(Zstd.compress(bytes), limit: size) == bytes, "\(size) random bytes")
        }
        // An agent's conversation repeats itself: it must come out much smaller than it went in.
        let conversation = Array((0..<500).map { #"{"role":"tool","content":"read src/module\#($0).swift: tests pass"},"# }.joined().utf8)
        let frame = try Zstd.compress(conversation)
        #expect(frame.count * 4 < conversation.count)
        #expect(try Zstd.decompress(frame, limit: conversation.count) == conversation)
    }

    @Test func refusesTruncatedForeignAndOversizedFrames() throws {
        let text = Array(String(repeating: "budget ", count: 1_000).utf8)
        let frame = try Zstd.compress(text)
        #expect(throws: Zstd.Failure.malformedFrame) { try Zstd.decompress(Array(frame.dropLast(3)), limit: text.count) }
        #expect(throws: Zstd.Failure.malformedFrame) { try Zstd.decompress(text, limit: text.count) }
        #expect(throws: Zstd.Failure.malformedFrame) { try Zstd.decompress([], limit: 10) }
        #expect(throws: Zstd.Failure.tooLarge(declared: UInt64(text.count))) { try Zstd.decompress(frame, limit: text.count - 1) }
    }

    @Test func aPayloadWithoutCompressionIsReadAsStored() throws {
        let sent = Array(#"{"model":"gpt-4o-mini"}"#.utf8)
        #expect(try PayloadCompression.plaintext(sent, compression: nil) == sent)
        #expect(try PayloadCompression.plaintext(Zstd.compress(sent), compression: .zstd) == sent)
    }
}
