/// Why bytes are not JSON, and where.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public let offset: Int

    public var description: String { "\(reason) (at byte \(offset))" }
}

/// A strict RFC 8259 parser from bytes straight to `JSONValue`: the data plane parses every request
/// and every answer, and Foundation's `JSONDecoder` through `Codable` was a sixth of its CPU time.
/// Refuses what JSON refuses — trailing commas, control characters and invalid UTF-8 in strings,
/// lone surrogate escapes, leading zeros — and nesting deeper than `maxDepth`. A repeated object key
/// keeps its last value.
public struct JSONParser {
    public static let maxDepth = 512

    public static func parse<Bytes: Collection<UInt8>>(_ bytes: Bytes) throws(JSONParseError) -> JSONValue {
        let parsed: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Self.parse(buffer: UnsafeRawBufferPointer(buffer))
        }
        if let parsed { return try parsed.get() }
        return try Array(bytes).withUnsafeBytes { Self.parse(buffer: $0) }.get()
    }

    /// The member `name` of the top-level object, building nothing else: the other members are
    /// stepped over (their strings neither decoded nor validated as UTF-8). For reading one field of
    /// a large document — the `usage` of every provider answer, whose content the data plane only
    /// passes on. Nil when the bytes are not a JSON object, have no such member, or are malformed
    /// up to where it would end. A repeated key gives its last value, as `parse` does.
    public static func member<Bytes: Collection<UInt8>>(_ name: String, of bytes: Bytes) -> JSONValue? {
        withParser(over: bytes) { parser in
            var found: JSONValue?
            do { try parser.members(picking: { $0 == name }) { found = $1 } } catch { return nil }
            return found
        }
    }

    /// The top-level members `names` of a JSON object, read as `member` reads one: the others are
    /// stepped over, unbuilt. For the events of a provider's stream, of which a few members are read
    /// (built whole, every event's `id`, `model` and the rest were most of the cost of reading a
    /// stream). Nil when the bytes are not a JSON object or are malformed.
    public static func members<Bytes: Collection<UInt8>>(named names: [String], of bytes: Bytes) -> [String: JSONValue]? {
        withParser(over: bytes) { parser in
            var found: [String: JSONValue] = [:]
            do { try parser.members(picking: names.contains) { found[$0] = $1 } } catch { return nil }
            return found
        }
    }

    static func withParser<Bytes: Collection<UInt8>, Value>(over bytes: Bytes, _ body: (inout Parser) -> Value) -> Value {
        let result: Value? = bytes.withContiguousStorageIfAvailable { buffer in
            var parser = Parser(bytes: UnsafeRawBufferPointer(buffer))
            return body(&parser)
        }
        if let result { return result }
        return Array(bytes).withUnsafeBytes { buffer in
            var parser = Parser(bytes: buffer)
            return body(&parser)
        }
    }

    /// The top-level members `names` of a JSON object, each as `parse` builds it, the rest of the
    /// document checked as `parse` checks it but not built: refuses exactly what `parse` refuses.
    /// Nil when the document is JSON but not an object. For a large request of which only a few
    /// fields are read (a call without a policy): building its whole tree was most of its cost.
    public static func members(_ names: Set<String>, of bytes: some Collection<UInt8>) throws(JSONParseError) -> [String: JSONValue]? {
        let parsed: Result<[String: JSONValue]?, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buffer in
            Self.members(names, buffer: UnsafeRawBufferPointer(buffer))
        }
        if let parsed { return try parsed.get() }
        return try Array(bytes).withUnsafeBytes { Self.members(names, buffer: $0) }.get()
    }

    private static func members(_ names: Set<String>, buffer: UnsafeRawBufferPointer) -> Result<[String: JSONValue]?, JSONParseError> {
        var parser = Parser(bytes: buffer)
        do throws(JSONParseError) {
            parser.skipWhitespace()
            let found = try parser.members(names)
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.error("unexpected content after the JSON value") }
            return .success(found)
        } catch {
            return .failure(error)
        }
    }

    private static func parse(buffer: UnsafeRawBufferPointer) -> Result<JSONValue, JSONParseError> {
        var parser = Parser(bytes: buffer)
        do throws(JSONParseError) {
            parser.skipWhitespace()
            let value = try parser.value(depth: 0)
            parser.skipWhitespace()
            guard parser.index == buffer.count else { throw parser.error("unexpected content after the JSON value") }
            return .success(value)
        } catch {
            return .failure(error)
        }
    }

    struct Parser {
        let bytes: UnsafeRawBufferPointer
        var index = 0

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
        }

        func error(_ reason: String) -> JSONParseError {
            JSONParseError(reason: reason, offset: index)
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
            guard let byte = current else { throw error("the JSON ends where a value should be") }
            switch byte {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("unexpected character where a value should be")
            }
        }

        mutating func literal(_ word: StaticString) throws(JSONParseError) {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { throw error("unexpected end of the JSON") }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
                throw error("unexpected character where a value should be")
            }
            index += count
        }

        mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
            guard depth <= JSONParser.maxDepth else { throw error("the JSON is nested more than \(JSONParser.maxDepth) levels deep") }
            index += 1  // {
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                try expectKey()
                let key = try string()
                try colon()
                members[key] = try value(depth: depth)
                if try closes(UInt8(ascii: "}"), after: "an object member") { return .object(members) }
            }
        }

        /// See `JSONParser.member(_:of:)`: hands `found` each top-level member `wanted` picks, built
        /// (a repeated key once per occurrence); steps over the others.
        mutating func members(picking wanted: (String) -> Bool, _ found: (String, JSONValue) -> Void) throws(JSONParseError) {
            skipWhitespace()
            guard current == UInt8(ascii: "{") else { throw error("not an object") }
            index += 1
            skipWhitespace()
            if current == UInt8(ascii: "}") { return }
            while true {
                try expectKey()
                let key = try string()  // keys are short: no allocation below 16 bytes
                try colon()
                if wanted(key) { found(key, try value(depth: 1)) } else { try skipValue(depth: 1) }
                if try closes(UInt8(ascii: "}"), after: "an object member") { return }
            }
        }

        /// See `JSONParser.members(_:of:)`.
        mutating func members(_ names: Set<String>) throws(JSONParseError) -> [String: JSONValue]? {
            guard current == UInt8(ascii: "{") else {
                try skipValue(depth: 0, strict: true)
                return nil
            }
            index += 1
            var found: [String: JSONValue] = [:]
            skipWhitespace()
            if current == UInt8(ascii: "}") {
                index += 1
                return found
            }
            while true {
                try expectKey()
                let key = try string()
                try colon()
                if names.contains(key) { found[key] = try value(depth: 1) } else { try skipValue(depth: 1, strict: true) }
                if try closes(UInt8(ascii: "}"), after: "an object member") { return found }
            }
        }

        /// An object's key (a string) must start here.
        func expectKey() throws(JSONParseError) {
            guard current == UInt8(ascii: "\"") else {
                throw error(current == UInt8(ascii: "}") ? "a comma stands before a closing }" : "an object key must be a string")
            }
        }

        /// The colon after an object's key, and the whitespace around it.
        mutating func colon() throws(JSONParseError) {
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("a colon must follow an object key") }
            index += 1
            skipWhitespace()
        }

        /// Steps over a value, checking its structure but building nothing; `depth` counts as in
        /// `value(depth:)`. `strict` checks all that `value` checks (escapes, UTF-8) — otherwise
        /// strings are only checked for control characters.
        mutating func skipValue(depth: Int, strict: Bool = false) throws(JSONParseError) {
            guard let byte = current else { throw error("the JSON ends where a value should be") }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard depth < JSONParser.maxDepth else { throw error("the JSON is nested more than \(JSONParser.maxDepth) levels deep") }
                let closer = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                index += 1
                skipWhitespace()
                if current == closer {
                    index += 1
                    return
                }
                while true {
                    if closer == UInt8(ascii: "}") {
                        try expectKey()
                        try skipString(strict: strict)
                        try colon()
                    } else if current == UInt8(ascii: "]") {
                        throw error("a comma stands before a closing ]")
                    }
                    try skipValue(depth: depth + 1, strict: strict)
                    if try closes(closer, after: "a member or element") { return }
                }
            case UInt8(ascii: "\""): try skipString(strict: strict)
            default: _ = try value(depth: depth)  // literals and numbers: nothing to allocate
            }
        }

        /// Steps over plain text (see `PlainJSONText`); whether it was all ASCII.
        mutating func skipPlainText() -> Bool {
            let (end, ascii) = PlainJSONText.skip(bytes, from: index)
            index = end
            return ascii
        }

        mutating func skipString(strict: Bool = false) throws(JSONParseError) {
            index += 1  // opening quote
            let start = index
            var ascii = skipPlainText()
            while index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "\""):
                    // Escapes are ASCII, so the raw bytes are valid UTF-8 exactly when the text is.
                    if strict, !ascii, String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self) == nil {
                        throw JSONParseError(reason: "a string is not valid UTF-8", offset: start)
                    }
                    index += 1
                    return
                case UInt8(ascii: "\\"):
                    if strict { _ = try escape() } else { index += 2 }  // the escaped byte cannot close the string
                case 0..<0x20: throw error("a control character stands unescaped in a string")
                case 0x80...:
                    ascii = false
                    index += 1
                default: index += 1
                }
            }
            throw error("a string is not closed")
        }

        mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
            guard depth <= JSONParser.maxDepth else { throw error("the JSON is nested more than \(JSONParser.maxDepth) levels deep") }
            index += 1  // [
            var elements: [JSONValue] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            }
            while true {
                if current == UInt8(ascii: "]") { throw error("a comma stands before a closing ]") }
                elements.append(try value(depth: depth))
                if try closes(UInt8(ascii: "]"), after: "an array element") { return .array(elements) }
            }
        }

        /// After a member or element: true at `closer` (consumed); false after a comma (consumed,
        /// with the whitespace after it), another item follows.
        mutating func closes(_ closer: UInt8, after item: String) throws(JSONParseError) -> Bool {
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                index += 1
                skipWhitespace()
                return false
            case closer:
                index += 1
                return true
            default:
                throw error("a comma or \(Character(Unicode.Scalar(closer))) must follow \(item)")
            }
        }

        mutating func string() throws(JSONParseError) -> String {
            index += 1  // opening quote
            let start = index
            var ascii = skipPlainText()
            // The common case: no escapes, the bytes are the string (ASCII needs no validating, and
            // `String(validating:)` is generic code the stdlib does not specialise for us).
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                    let text = ascii ? String(decoding: raw, as: UTF8.self) : String(validating: raw, as: UTF8.self)
                    guard let text else { throw JSONParseError(reason: "a string is not valid UTF-8", offset: start) }
                    index += 1
                    return text
                }
                if byte >= 0x80 { ascii = false }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw error("a control character stands unescaped in a string") }
                index += 1
            }
            guard index < bytes.count else { throw error("a string is not closed") }
            var utf8 = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: utf8, as: UTF8.self) else { throw JSONParseError(reason: "a string is not valid UTF-8", offset: start) }
                    index += 1
                    return text
                case UInt8(ascii: "\\"):
                    let scalar = try escape()
                    if scalar.isASCII { utf8.append(UInt8(scalar.value)) } else { utf8.append(contentsOf: String(Character(scalar)).utf8) }
                default:
                    if byte < 0x20 { throw error("a control character stands unescaped in a string") }
                    utf8.append(byte)
                    index += 1
                }
            }
            throw error("a string is not closed")
        }

        /// The escape at the backslash here, as the character it stands for; refuses unknown escapes,
        /// bad hex digits and lone surrogates.
        mutating func escape() throws(JSONParseError) -> Unicode.Scalar {
            index += 1
            guard let escape = current else { throw error("a string is not closed") }
            index += 1
            switch escape {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): return Unicode.Scalar(escape)
            case UInt8(ascii: "b"): return "\u{08}"
            case UInt8(ascii: "f"): return "\u{0C}"
            case UInt8(ascii: "n"): return "\n"
            case UInt8(ascii: "r"): return "\r"
            case UInt8(ascii: "t"): return "\t"
            case UInt8(ascii: "u"):
                var scalar = UInt32(try hex4())
                if (0xD800...0xDBFF).contains(scalar) {
                    guard current == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                        throw error("a \\u escape names half of a surrogate pair")
                    }
                    index += 2
                    let low = UInt32(try hex4())
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("a \\u escape names half of a surrogate pair") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("a \\u escape names half of a surrogate pair")
                }
                return Unicode.Scalar(scalar)!
            default:
                throw error("unknown escape in a string")
            }
        }

        mutating func hex4() throws(JSONParseError) -> UInt16 {
            guard bytes.count - index >= 4 else { throw error("a \\u escape needs four hex digits") }
            var value: UInt16 = 0
            for _ in 0..<4 {
                guard let digit = Hex.value(of: bytes[index]) else { throw error("a \\u escape needs four hex digits") }
                value = value << 4 | UInt16(digit)
                index += 1
            }
            return value
        }

        mutating func number() throws(JSONParseError) -> Double {
            let start = index
            var integral = true
            if current == UInt8(ascii: "-") { index += 1 }
            guard let first = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw error("a number needs digits") }
            if first == UInt8(ascii: "0") {
                index += 1
                if let next = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(next) { throw error("a number may not start with 0") }
            } else {
                digits()
            }
            if current == UInt8(ascii: ".") {
                integral = false
                index += 1
                guard digits() > 0 else { throw error("a number's fraction needs digits") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                integral = false
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { throw error("a number's exponent needs digits") }
            }
            let text = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
            // Whole numbers short enough to be exact are summed directly; the rest go to the C library.
            if integral, text.count <= 16 {
                var value: Int64 = 0
                for byte in text where byte != UInt8(ascii: "-") { value = value * 10 + Int64(byte - UInt8(ascii: "0")) }
                return Double(text.first == UInt8(ascii: "-") ? -value : value)
            }
            guard let value = Double(String(decoding: text, as: UTF8.self)), value.isFinite else {
                throw JSONParseError(reason: "a number is out of range", offset: start)
            }
            return value
        }

        @discardableResult
        mutating func digits() -> Int {
            let start = index
            while let byte = current, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { index += 1 }
            return index - start
        }
    }
}
