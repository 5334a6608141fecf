import Common
import Foundation
import TestSupport
import Testing

/// The reader walks what `JSONParser.parse` builds: rebuilt from its walk, every generated document is
/// the value `parse` gives; what it is not asked for is stepped over; malformed documents give nil.
@Suite struct JSONReaderTests {
    @Test func aWalkedDocumentIsWhatParseBuilds() throws {
        var random = SeededGenerator(seed: 20261203)
        for index in 0..<2_000 {
            let document = JSONParserTests.value(&random)
            let data = try JSONEncoder().encode(document)
            let walked = JSONReader.read(data) { reader throws(JSONParseError) in try Self.walk(&reader) }
            #expect(walked == (try JSONParser.parse(data)), "document \(index): \(String(decoding: data, as: UTF8.self))")
        }
    }

    /// Objects and arrays walked member by member and element by element, strings read as strings,
    /// anything else built.
    static func walk(_ reader: inout JSONReader) throws(JSONParseError) -> JSONValue {
        var object: [String: JSONValue] = [:]
        var array: [JSONValue] = []
        var kind = 0
        // Each probe steps over a value of another kind, so the probes are made on copies.
        var probe = reader
        if try probe.members({ key, value throws(JSONParseError) in object[key] = try walk(&value) }) {
            kind = 1
        } else {
            probe = reader
            if try probe.elements({ element throws(JSONParseError) in array.append(try walk(&element)) }) {
                kind = 2
            } else {
                probe = reader
                if let text = try probe.string() {
                    reader = probe
                    return .string(text)
                }
                return try reader.value()
            }
        }
        reader = probe
        return kind == 1 ? .object(object) : .array(array)
    }

    @Test func whatIsNotAskedForIsSteppedOverAndMalformedDocumentsGiveNil() {
        let event = Array(#"{"id":"x","choices":[{"index":0,"delta":{"content":"Hi"}}],"model":"m","usage":{"prompt_tokens":3}}"#.utf8)
        let content = JSONReader.read(event) { reader throws(JSONParseError) -> [String] in
            var found: [String] = []
            try reader.members { key, value throws(JSONParseError) in
                guard key == "choices" else { return }
                try value.elements { choice throws(JSONParseError) in
                    try choice.members { key, value throws(JSONParseError) in
                        guard key == "delta" else { return }
                        try value.members { key, value throws(JSONParseError) in
                            if key == "content", let text = try value.string() { found.append(text) }
                        }
                    }
                }
            }
            return found
        }
        #expect(content == ["Hi"])
        // Asking an object for elements, or a number for a string, steps over it: nothing is read.
        #expect(JSONReader.read(event) { reader throws(JSONParseError) in try reader.elements { _ throws(JSONParseError) in } } == false)
        #expect(JSONReader.read(Array("12".utf8)) { reader throws(JSONParseError) in try reader.string() } == .some(nil))
        // Malformed where read, where stepped over, or after the value: nil.
        for text in [#"{"a":[1,}],"b":1}"#, #"{"a":"unclosed}"#, #"{"a":1} 2"#, #"{"a":1"#, #"[1,]"#] {
            #expect(JSONReader.read(Array(text.utf8)) { reader throws(JSONParseError) in try reader.members { _, _ throws(JSONParseError) in } } == nil, "\(text)")
        }
        // Nesting counts as in `parse`: 512 levels walked, not 513.
        let deepest = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(JSONReader.read(Array(deepest.utf8)) { reader throws(JSONParseError) in try Self.walk(&reader) } != nil)
        #expect(JSONReader.read(Array(("[" + deepest + "]").utf8)) { reader throws(JSONParseError) in try Self.walk(&reader) } == nil)
    }
}
