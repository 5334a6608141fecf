import Common
import Foundation
import TestSupport
import Testing

/// The data plane's JSON parser against Foundation's decoder: the same value for every document
/// Foundation reads (generated, seeded), and a refusal for what RFC 8259 refuses.
@Suite struct JSONParserTests {
    typealias Generator = SeededGenerator

    static func string(_ random: inout Generator) -> String {
        let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{01}", "é", "中", "😀", "\u{2028}", "{", "]", ","]
        return String((0..<Int.random(in: 0...12, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
    }

    static func value(_ random: inout Generator, depth: Int = 0) -> JSONValue {
        switch Int.random(in: 0...(depth > 4 ? 3 : 5), using: &random) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &random))
        case 2:
            switch Int.random(in: 0...3, using: &random) {
            case 0: return .number(Double(Int.random(in: -1_000_000...1_000_000, using: &random)))
            case 1: return .number(Double.random(in: -1e6...1e6, using: &random))
            case 2: return .number(Double(Int64.random(in: -(1 << 53)...(1 << 53), using: &random)))
            default: return .number(Double.random(in: -1e300...1e300, using: &random))
            }
        case 3: return .string(string(&random))
        case 4: return .array((0..<Int.random(in: 0...5, using: &random)).map { _ in value(&random, depth: depth + 1) })
        default:
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &random) { object[string(&random)] = value(&random, depth: depth + 1) }
            return .object(object)
        }
    }

    @Test func readsWhatFoundationReadsTheSameWay() throws {
        var random = Generator(seed: 20261123)
        let pretty = JSONEncoder()
        pretty.outputFormatting = [.prettyPrinted, .withoutEscapingSlashes]
        for index in 0..<3_000 {
            let original = Self.value(&random)
            let data = try (index.isMultiple(of: 2) ? JSONEncoder() : pretty).encode(original)
            let expected = try JSONDecoder().decode(JSONValue.self, from: data)
            let parsed = try JSONParser.parse(data)
            #expect(parsed == expected, "document \(index): \(String(decoding: data, as: UTF8.self))")
        }
    }

    @Test func escapesAndNumbersAreRead() throws {
        #expect(try JSONParser.parse(Array(#"{"a":"\u00e9\ud83d\ude00\n\/","b":[-0.5,1e3,12345678901234567890,0]}"#.utf8)) ==
            ["a": "é😀\n/", "b": [-0.5, 1000, 12345678901234567890.0, 0]])
        #expect(try JSONParser.parse(Array(" \n{\"k\" : true , \"k\" : null } \t".utf8)) == ["k": nil])
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "[,1]", "{,}", "{\"a\" 1}", "{a:1}", "[1 2]", "01", "-", "1.", ".5", "1e", "+1",
        "tru", "nul", "\"abc", "\"\u{01}\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "1e400",
        "[1]x", "{} {}", "NaN", "Infinity",
    ])
    func refusesWhatJSONRefuses(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8)) }
    }

    @Test func refusesInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(repeating: UInt8(ascii: "["), count: 100_000)) }
        let deepest = String(repeating: "[", count: JSONParser.maxDepth) + String(repeating: "]", count: JSONParser.maxDepth)
        #expect((try? JSONParser.parse(Array(deepest.utf8))) != nil)
    }

    /// Strings are stepped over eight bytes at a time: a quote, an escape, a control character,
    /// non-ASCII text and invalid UTF-8 are each found at every offset around those steps, by
    /// `parse`, by `member` (which skips the string) and by the serializer.
    @Test func findsWhatEndsPlainTextAtEveryOffset() throws {
        let cases: [(raw: [UInt8], decoded: String?)] = [
            (Array(#"\""#.utf8), "\""), (Array(#"\\"#.utf8), "\\"), (Array(#"\n"#.utf8), "\n"), (Array(#"\u00e9"#.utf8), "é"),
            (Array("é".utf8), "é"), (Array("😀".utf8), "😀"), ([0x7F], "\u{7F}"), ([0x01], nil), ([0x1F], nil), ([0xFF], nil), ([0x09], nil),
        ]
        for length in 0..<24 {
            for position in 0...length {
                for (raw, decoded) in cases {
                    let before = String(repeating: "a", count: position), after = String(repeating: "b", count: length - position)
                    let text = Array(before.utf8) + raw + Array(after.utf8)
                    let document = Array(#"{"k":""#.utf8) + text + Array(#"","usage":7}"#.utf8)
                    if let decoded {
                        let value = JSONValue.string(before + decoded + after)
                        #expect(try JSONParser.parse(document) == ["k": value, "usage": 7], "\(length) \(position) \(raw)")
                        // And written back with the escapes Foundation writes, wherever they fall.
                        #expect(JSONSerializer.bytes(value) == Array(try JSONEncoder.sortedKeys.encode(value)), "\(length) \(position) \(raw)")
                    } else {
                        #expect(throws: JSONParseError.self, "\(length) \(position) \(raw)") { try JSONParser.parse(document) }
                    }
                    // Skipped, the text is checked for control characters only (not UTF-8).
                    let skippable = decoded != nil || raw == [0xFF]
                    #expect(JSONParser.member("usage", of: document) == (skippable ? 7 : nil), "\(length) \(position) \(raw)")
                }
                let plain = Array(#"{"k":""#.utf8) + Array(String(repeating: "c", count: length).utf8) + Array(#""}"#.utf8)
                #expect(try JSONParser.parse(plain) == ["k": .string(String(repeating: "c", count: length))])
            }
        }
    }

    /// `members` builds the members named as `parse` does and refuses exactly what `parse` refuses:
    /// on generated documents (objects and not), and on the same documents with a byte corrupted
    /// (escapes broken, control characters, invalid UTF-8, brackets and commas misplaced).
    @Test func membersReadsWhatParseReadsAndRefusesWhatItRefuses() throws {
        var random = Generator(seed: 20261201)
        let names: Set<String> = ["model", "stream", "a", "é"]
        let nasty: [UInt8] = [0x5C, 0x22, 0x01, 0xFF, 0xC3, 0x2C, 0x5D, 0x7D, 0x7B, 0x78, 0x75, 0x30, 0x20]
        var refused = 0
        for index in 0..<4_000 {
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &random) {
                object[Bool.random(using: &random) ? names.randomElement(using: &random)! : Self.string(&random)] = Self.value(&random)
            }
            let document = index.isMultiple(of: 7) ? Self.value(&random) : .object(object)
            var data = Array(try JSONEncoder().encode(document))
            if index.isMultiple(of: 2), !data.isEmpty {
                let at = Int.random(in: 0..<data.count, using: &random)
                if Bool.random(using: &random) { data[at] = nasty.randomElement(using: &random)! } else { data.insert(nasty.randomElement(using: &random)!, at: at) }
            }
            let parsed = try? JSONParser.parse(data)
            let read = try? JSONParser.members(names, of: data)
            let text = String(decoding: data, as: UTF8.self)
            guard let parsed else {
                refused += 1
                #expect(read == nil, "document \(index) is refused by parse but not by members: \(text)")
                continue
            }
            if case .object(let whole) = parsed {
                #expect(read == .some(whole.filter { names.contains($0.key) }), "document \(index): \(text)")
            } else {
                #expect(read == .some(nil), "document \(index) is not an object: \(text)")
            }
        }
        #expect(refused > 500)
        // Nesting counts as in `parse`: 512 levels inside a member read or skipped, not 513.
        for name in ["a", "skipped"] {
            let deepest = String(repeating: "[", count: JSONParser.maxDepth - 1) + String(repeating: "]", count: JSONParser.maxDepth - 1)
            #expect(try JSONParser.members(names, of: Array("{\"\(name)\":\(deepest)}".utf8)) != nil)
            #expect(throws: JSONParseError.self) { try JSONParser.members(names, of: Array("{\"\(name)\":[\(deepest)]}".utf8)) }
        }
    }

    /// `member` gives what `parse` gives for that member, on the same generated documents (objects
    /// whose other members are anything, strings with quotes, escapes and brackets included).
    @Test func aMemberReadAloneIsWhatTheWholeDocumentSays() throws {
        var random = Generator(seed: 20261130)
        for index in 0..<2_000 {
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &random) { object[Self.string(&random)] = Self.value(&random) }
            if index.isMultiple(of: 3) { object["usage"] = Self.value(&random) }
            let data = try JSONEncoder().encode(JSONValue.object(object))
            #expect(JSONParser.member("usage", of: data) == object["usage"], "document \(index): \(String(decoding: data, as: UTF8.self))")
        }
        // Only a top-level key counts, the last of repeated ones; not an object or malformed up to it: nil.
        #expect(JSONParser.member("usage", of: Array(#"{"a":{"usage":1},"b":"\"usage\":2","usage":{"x":[3]}}"#.utf8)) == ["x": [3]])
        #expect(JSONParser.member("usage", of: Array(#"{"usage":1,"usage":2}"#.utf8)) == 2)
        #expect(JSONParser.member("usage", of: Array(#"[{"usage":1}]"#.utf8)) == nil)
        #expect(JSONParser.member("usage", of: Array(#"{"a":[1,}],"usage":1}"#.utf8)) == nil)
        #expect(JSONParser.member("usage", of: Array(#"{"a":"\u0001\"","usage":true}"#.utf8)) == true)
        #expect(JSONParser.member("usage", of: Array(#"{"a":"unclosed,"usage":1}"#.utf8)) == nil)
    }

    /// `members(named:)` gives what `parse` gives for the members named, on generated documents,
    /// and nothing for the others; like `member`, only top-level keys count, the last of repeated
    /// ones, and a document that is not an object or is malformed gives nil.
    @Test func membersNamedAreWhatTheWholeDocumentSays() throws {
        var random = Generator(seed: 20261203)
        let names = ["usage", "choices", "type"]
        for index in 0..<2_000 {
            var object: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &random) { object[Self.string(&random)] = Self.value(&random) }
            for name in names where Int.random(in: 0...2, using: &random) == 0 { object[name] = Self.value(&random) }
            let data = try JSONEncoder().encode(JSONValue.object(object))
            #expect(JSONParser.members(named: names, of: data) == object.filter { names.contains($0.key) },
                    "document \(index): \(String(decoding: data, as: UTF8.self))")
        }
        #expect(JSONParser.members(named: names, of: Array(#"{"a":{"usage":1},"type":"x","usage":2,"type":"y"}"#.utf8)) == ["usage": 2, "type": "y"])
        #expect(JSONParser.members(named: names, of: Array(#"{}"#.utf8)) == [:])
        #expect(JSONParser.members(named: names, of: Array(#"[{"usage":1}]"#.utf8)) == nil)
        #expect(JSONParser.members(named: names, of: Array(#"{"usage":1,"a":[1,}]}"#.utf8)) == nil)
        #expect(JSONParser.members(named: names, of: Array(#"{"usage":1,"a":"unclosed}"#.utf8)) == nil)
    }

    /// The serializer writes what Foundation's `JSONEncoder.sortedKeys` writes, byte for byte: key
    /// order (combining marks included), escapes, numbers large and small.
    @Test func theSerializerWritesWhatFoundationWrites() throws {
        var random = Generator(seed: 20261131)
        for index in 0..<3_000 {
            var value = Self.value(&random)
            if index.isMultiple(of: 5) { value = ["e\u{301}x": value, "\u{e9}a": [1e300, -1.5e-7, 0.1, 1e21, 9_007_199_254_740_993, "\u{7f}\u{2028}/"]] }
            let expected = try JSONEncoder.sortedKeys.encode(value)
            #expect(JSONSerializer.bytes(value) == Array(expected), "document \(index): \(String(decoding: expected, as: UTF8.self))")
        }
        #expect(JSONSerializer.bytes(["a": .number(.nan), "b": [.number(.infinity)]]) == Array(#"{"a":null,"b":[null]}"#.utf8))
    }

    /// Every control character, each escape's hex digits included, as Foundation writes it.
    @Test func everyControlCharacterIsEscapedAsFoundationEscapesIt() throws {
        let value = JSONValue.string(String(decoding: Array(0..<0x20) + Array(#""\/é"#.utf8), as: UTF8.self))
        #expect(JSONSerializer.bytes(value) == Array(try JSONEncoder.sortedKeys.encode(value)))
        #expect(String(decoding: JSONSerializer.bytes(value), as: UTF8.self).contains(#"\u001f"#))
    }
}
