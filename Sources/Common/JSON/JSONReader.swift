/// Reads a few values out of a JSON document without building the rest: walks its objects and arrays
/// as the caller asks, builds only the values it asks for, and steps over the others — checked for
/// structure only, as `JSONParser.member(_:of:)` steps over the members it does not read. For the
/// events of a provider's stream: of each, Rungate uses a delta's text and a usage object, and
/// building the whole event (its ids, model, choice objects) was most of the cost of reading a stream.
public struct JSONReader {
    private var parser: JSONParser.Parser
    private let depth: Int
    /// Whether the value here was read or stepped over: one left alone is stepped over by the reader
    /// of the object or array holding it.
    private var consumed = false

    private init(parser: JSONParser.Parser, depth: Int) {
        self.parser = parser
        self.depth = depth
    }

    /// What `body` reads of `bytes`; nil when they are malformed where read or stepped over, or hold
    /// more than one value.
    public static func read<Bytes: Collection<UInt8>, Value>(
        _ bytes: Bytes, _ body: (inout JSONReader) throws(JSONParseError) -> Value
    ) -> Value? {
        JSONParser.withParser(over: bytes) { parser in
            parser.skipWhitespace()
            var reader = JSONReader(parser: parser, depth: 0)
            do throws(JSONParseError) {
                let value = try body(&reader)
                if !reader.consumed { try reader.skip() }
                reader.parser.skipWhitespace()
                return reader.parser.index == reader.parser.bytes.count ? value : nil
            } catch {
                return nil
            }
        }
    }

    /// For an object: `body` is given each member's key and a reader at its value, in the document's
    /// order (a repeated key once per occurrence). False, the value stepped over, when it is not an object.
    @discardableResult
    public mutating func members(_ body: (String, inout JSONReader) throws(JSONParseError) -> Void) throws(JSONParseError) -> Bool {
        guard parser.current == UInt8(ascii: "{") else {
            try skip()
            return false
        }
        try enter()
        if parser.current == UInt8(ascii: "}") {
            parser.index += 1
            return true
        }
        while true {
            try parser.expectKey()
            let key = try parser.string()
            try parser.colon()
            try visit { member throws(JSONParseError) in try body(key, &member) }
            if try parser.closes(UInt8(ascii: "}"), after: "an object member") { return true }
        }
    }

    /// For an array: `body` is given a reader at each element in turn. False, the value stepped
    /// over, when it is not an array.
    @discardableResult
    public mutating func elements(_ body: (inout JSONReader) throws(JSONParseError) -> Void) throws(JSONParseError) -> Bool {
        guard parser.current == UInt8(ascii: "[") else {
            try skip()
            return false
        }
        try enter()
        if parser.current == UInt8(ascii: "]") {
            parser.index += 1
            return true
        }
        while true {
            if parser.current == UInt8(ascii: "]") { throw parser.error("a comma stands before a closing ]") }
            try visit(body)
            if try parser.closes(UInt8(ascii: "]"), after: "an array element") { return true }
        }
    }

    /// The value here, built as `JSONParser.parse` builds it.
    public mutating func value() throws(JSONParseError) -> JSONValue {
        consumed = true
        return try parser.value(depth: depth)
    }

    /// The value here when it is a string; nil, the value stepped over, otherwise.
    public mutating func string() throws(JSONParseError) -> String? {
        guard parser.current == UInt8(ascii: "\"") else {
            try skip()
            return nil
        }
        consumed = true
        return try parser.string()
    }

    private mutating func skip() throws(JSONParseError) {
        consumed = true
        try parser.skipValue(depth: depth)
    }

    /// Steps into the object or array here, as `JSONParser.parse` would (its nesting limit included).
    private mutating func enter() throws(JSONParseError) {
        consumed = true
        guard depth < JSONParser.maxDepth else { throw parser.error("the JSON is nested more than \(JSONParser.maxDepth) levels deep") }
        parser.index += 1
        parser.skipWhitespace()
    }

    /// Hands `body` a reader at the value here, steps over what it leaves unread, and goes on after it.
    private mutating func visit(_ body: (inout JSONReader) throws(JSONParseError) -> Void) throws(JSONParseError) {
        var inner = JSONReader(parser: parser, depth: depth + 1)
        try body(&inner)
        if !inner.consumed { try inner.skip() }
        parser = inner.parser
    }
}
