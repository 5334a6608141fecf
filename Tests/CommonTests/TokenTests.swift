import Common
import TestSupport
import Testing

@Suite struct TokenTests {
    @Test(arguments: TokenKind.allCases)
    func generatedTokensParseBackToTheirKind(kind: TokenKind) throws {
        let token = Token.generate(kind)
        #expect(token.value.hasPrefix(kind.prefix))
        #expect(token.value.count == kind.prefix.count + 43 + 6)
        let parsed = try Token.parse(token.value)
        #expect(parsed.kind == kind)
        #expect(parsed.hash == token.hash)
        #expect(try Token.parse(token.value, expecting: kind) == token)
    }

    @Test func tokensAreUniqueAndHashesAreHexSHA256() {
        let first = Token.generate(.agent), second = Token.generate(.agent)
        #expect(first != second)
        #expect(first.hash.count == 64)
        #expect(first.hash.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(first.hash != second.hash)
    }

    @Test func aSingleChangedCharacterFailsTheChecksum() throws {
        let token = Token.generate(.agent).value
        var characters = Array(token)
        let index = 7 + 10  // inside the random body
        characters[index] = characters[index] == "A" ? "B" : "A"
        #expect(throws: TokenFormatError.badChecksum) { try Token.parse(String(characters)) }
        // A changed checksum character fails too.
        var checksum = Array(token)
        checksum[checksum.count - 1] = checksum.last == "z" ? "y" : "z"
        #expect(throws: TokenFormatError.badChecksum) { try Token.parse(String(checksum)) }
    }

    @Test func wrongShapesAreRefusedWithTheirReason() {
        let token = Token.generate(.admin).value
        #expect(throws: TokenFormatError.unknownPrefix) { try Token.parse("sk-" + token.dropFirst(7)) }
        #expect(throws: TokenFormatError.wrongLength) { try Token.parse(String(token.dropLast())) }
        #expect(throws: TokenFormatError.wrongLength) { try Token.parse(token + "0") }
        #expect(throws: TokenFormatError.invalidCharacters) { try Token.parse(String(token.dropLast(7)) + "-" + String(token.suffix(6))) }
        #expect(throws: TokenFormatError.wrongKind(found: .admin, expected: .agent)) { try Token.parse(token, expecting: .agent) }
        #expect(throws: TokenFormatError.unknownPrefix) { try Token.parse("") }
    }

    @Test func descriptionNeverShowsTheSecret() {
        let token = Token.generate(.platform)
        #expect(!"\(token)".contains(token.value.dropFirst(token.kind.prefix.count + 4)))
        #expect("\(token)".hasPrefix("rg_platform_"))
    }

    @Test func crc32MatchesTheStandardCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func base62IsFixedWidthAndOrderPreserving() {
        #expect(Base62.encode([0, 0], width: 4) == "0000")
        #expect(Base62.encode([0, 61], width: 2) == "0z")
        #expect(Base62.encode([0, 62], width: 2) == "10")
        #expect(Base62.encode(UInt32.max, width: 6) == "4gfFC3")
    }

    /// The checksum's encoding (integer division) agrees with the byte-array one it replaced.
    @Test func base62OfA32BitValueIsBase62OfItsBigEndianBytes() {
        var generator = SeededGenerator(seed: 62)
        let values: [UInt32] = [0, 1, 61, 62, 3_843, 3_844, .max] + (0..<500).map { _ in .random(in: .min ... .max, using: &generator) }
        for value in values {
            for width in [0, 1, 6, 8] {
                let bytes = withUnsafeBytes(of: value.bigEndian) { Array($0) }
                #expect(Base62.encode(value, width: width) == Base62.encode(bytes, width: width), "\(value) at width \(width)")
            }
        }
    }

    /// A token's checksum is compared digit by digit; it must agree with the encoding it is read as.
    @Test func base62SpellsExactlyTheValueItsEncodingWrites() {
        var generator = SeededGenerator(seed: 6)
        let values: [UInt32] = [0, 1, 61, 62, .max] + (0..<300).map { _ in .random(in: .min ... .max, using: &generator) }
        func spells(_ value: UInt32, _ text: String) -> Bool { Array(text.utf8).withUnsafeBufferPointer { Base62.spells(value, $0) } }
        for value in values {
            let text = Base62.encode(value, width: 6)
            #expect(spells(value, text), "\(value)")
            #expect(!spells(value &+ 1, text), "\(value) + 1")
            #expect(spells(value, "0" + text), "zero-padded, as encode(_:width:) writes it wider")
            // Too few digits for the value: the rest of the number is left over.
            #expect(spells(value, String(text.dropFirst())) == (value < 916_132_832), "\(value) in five digits")
        }
    }
}
