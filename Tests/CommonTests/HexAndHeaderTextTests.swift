import Common
import Crypto
import Foundation
import HTTPTypes
import Testing

/// The hand-written text forms the hot path uses instead of Foundation's must say exactly what
/// Foundation's said: ids and digests are compared, stored and looked up by these strings.
@Suite struct HexAndHeaderTextTests {
    @Test func uuidsReadAsFoundationWritesThemLowerCased() {
        for _ in 0..<1_000 {
            let id = UUID.random()
            #expect(id.lowercasedString == id.uuidString.lowercased())
        }
        let edge = UUID(uuid: (0x00, 0x01, 0x0A, 0x0F, 0x10, 0x7F, 0x80, 0x9A, 0xA0, 0xAB, 0xCD, 0xEF, 0xF0, 0xFE, 0xFF, 0x00))
        #expect(edge.lowercasedString == "00010a0f-107f-809a-a0ab-cdeff0feff00")
    }

    @Test func uuidsAreReadAsFoundationReadsThem() {
        for _ in 0..<1_000 {
            let id = UUID.random()
            #expect(UUID(canonical: id.lowercasedString) == id)
            #expect(UUID(canonical: id.uuidString) == id, "upper case too")
            #expect(UUID(canonical: id.lowercasedString.dropFirst(0)) == id, "from a substring")
        }
        let edge = "00010a0F-107f-809A-a0ab-cdeff0feff00"
        #expect(UUID(canonical: edge) == UUID(uuidString: edge))
        // Foundation's refusals are kept: the same length and dash positions, hex digits only.
        for text in ["", "00010a0f107f809aa0abcdeff0feff00", "00010a0f-107f-809a-a0ab-cdeff0feff0", "00010a0f-107f-809a-a0ab-cdeff0feff000",
                     "{00010a0f-107f-809a-a0ab-cdeff0feff}", "00010a0f_107f-809a-a0ab-cdeff0feff00",
                     "00010a0-f107f-809a-a0ab-cdeff0feff00", "00010a0g-107f-809a-a0ab-cdeff0feff00", "00010a0f-107f-809a-a0ab-cdeff0feff0é"] {
            #expect(UUID(uuidString: text) == nil, "Foundation refuses \(text)")
            #expect(UUID(canonical: text) == nil, "\(text)")
        }
        // Foundation on Linux reads these (`sscanf`'s `%2hhx` skips a space and takes a sign): an id is
        // refused here instead of being read as another one.
        for text in [" 00010a0f-107f-809a-a0ab-cdeff0feff0", "+0010a0f-107f-809a-a0ab-cdeff0feff00", "00010a0f-107f-809a-a0ab-cdeff0-eff00"] {
            #expect(UUID(canonical: text) == nil, "\(text)")
        }
    }

    @Test func digestsAndBytesAreLowerCaseHex() {
        // FIPS 180-2's first SHA-256 example.
        #expect(SHA256.hash(data: Data("abc".utf8)).hexString == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect([UInt8]([0x00, 0x0f, 0xf0, 0xff]).hexString == "000ff0ff")
        #expect([UInt8]().hexString == "")
    }

    @Test func requestIdentifiersAre32HexDigitsSharingTheProcessPrefixAndCounting() throws {
        let first = RequestIdentifier.next(), second = RequestIdentifier.next()
        for id in [first, second] {
            #expect(id.utf8.count == 32)
            #expect(id.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }, "\(id)")
        }
        #expect(first.prefix(16) == second.prefix(16), "one prefix per process")
        let (low1, low2) = (try #require(UInt64(first.suffix(16), radix: 16)), try #require(UInt64(second.suffix(16), radix: 16)))
        #expect(low2 == low1 &+ 1, "the counter advances by one, wrapping")
        #expect(Set((0..<1_000).map { _ in RequestIdentifier.next() }).count == 1_000)
    }

    @Test func headerValuesLoseOnlySpacesAndTabsAround() {
        #expect("  rg_agt_x \t".trimmedHeaderValue == "rg_agt_x")
        #expect("\tdefault@3".trimmedHeaderValue == "default@3")
        #expect("a b".trimmedHeaderValue == "a b")
        #expect("   ".trimmedHeaderValue == "")
        #expect("".trimmedHeaderValue == "")
        #expect("Bearer  rg_agt_x".dropFirst(7).trimmedHeaderValue == "rg_agt_x")
    }

    @Test func aFieldsValueReadsAsTheSubscriptReadsIt() throws {
        let custom = try #require(HTTPField.Name("x-custom"))
        var fields: HTTPFields = [.authorization: "Bearer rg", .accept: "a", .cookie: "a=1"]
        fields.append(HTTPField(name: .accept, value: "b"))
        fields.append(HTTPField(name: .cookie, value: "b=2"))
        fields.append(HTTPField(name: custom, value: ""))
        for name in [HTTPField.Name.authorization, .accept, .cookie, custom, .xAPIKeyForTest] {
            #expect(fields.value(name) == fields[name], "\(name)")
        }
        #expect(fields.value(.accept) == "a, b")
        #expect(fields.value(.cookie) == "a=1; b=2")
        #expect(fields.value(.authorization) == "Bearer rg")
        #expect(fields.value(custom) == "")
        #expect(fields.value(.xAPIKeyForTest) == nil)
    }

    @Test func gatheredFieldsAreTheFieldsInTheirOrder() throws {
        let list = [HTTPField(name: .contentType, value: "a"), HTTPField(name: .accept, value: "b"),
                    HTTPField(name: .contentType, value: "c"), HTTPField(name: try #require(HTTPField.Name("x-y")), value: "")]
        var appended = HTTPFields()
        for field in list { appended.append(field) }
        #expect(HTTPFields(gathered: list) == appended)
        #expect(Array(HTTPFields(gathered: list)) == list)
        #expect(HTTPFields(gathered: []).isEmpty)
    }

    @Test func bearerIsRecognisedInAnyCase() {
        #expect("Bearer rg".hasCaseInsensitivePrefix("bearer "))
        #expect("BEARER rg".hasCaseInsensitivePrefix("bearer "))
        #expect("bearer rg".hasCaseInsensitivePrefix("bearer "))
        #expect(!"Basic abc".hasCaseInsensitivePrefix("bearer "))
        #expect(!"Bearer".hasCaseInsensitivePrefix("bearer "))
        #expect(!"Bearer\u{0}rg".hasCaseInsensitivePrefix("bearer "))
    }
}

extension HTTPField.Name {
    fileprivate static let xAPIKeyForTest = HTTPField.Name("x-api-key")!
}
