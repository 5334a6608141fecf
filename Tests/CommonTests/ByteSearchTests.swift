import Common
import TestSupport
import Testing

/// `ByteSearch` against a plain byte loop: the same first offset for every needle, haystack and
/// starting offset generated (small alphabets, so partial matches, overlaps and matches at either
/// end are common).
@Suite struct ByteSearchTests {
    static func naive(_ needle: [UInt8], _ haystack: [UInt8], from offset: Int) -> Int? {
        guard !needle.isEmpty, offset >= 0, haystack.count - offset >= needle.count else { return nil }
        return (offset...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    @Test func findsWhatAByteLoopFinds() {
        var random = SeededGenerator(seed: 20261201)
        let alphabet: [UInt8] = [0x41, 0x42, 0x00, 0xFF]
        var found = 0
        for _ in 0..<20_000 {
            let haystack = (0..<Int.random(in: 0...40, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            let needle = (0..<Int.random(in: 0...4, using: &random)).map { _ in alphabet.randomElement(using: &random)! }
            let offset = Int.random(in: -1...(haystack.count + 1), using: &random)
            let expected = Self.naive(needle, haystack, from: offset)
            #expect(ByteSearch.firstOffset(of: needle, in: haystack, from: offset) == expected, "\(needle) in \(haystack) from \(offset)")
            if expected != nil { found += 1 }
        }
        #expect(found > 3_000)  // the generator makes matches common (4,488 of 20,000)
        // Any collection of bytes: a string's UTF-8, a slice.
        #expect(ByteSearch.firstOffset(of: Array("AKIA".utf8), in: "key: AKIA…".utf8) == 5)
        #expect(ByteSearch.firstOffset(of: [2, 3], in: [1, 2, 3, 2, 3][1...], from: 1) == 2)
    }
}
