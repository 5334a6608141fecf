import HTTPTypes

extension StringProtocol where UTF8View: BidirectionalCollection {
    /// The value without the spaces and tabs HTTP allows around it (RFC 9110 §5.6.3). Cheaper than
    /// `trimmingCharacters(in: .whitespaces)`, which goes through an NSString bridge on Linux: the
    /// data plane trims a token, and maybe a run id and a policy pin, on every call.
    public var trimmedHeaderValue: String {
        let utf8 = self.utf8
        var start = utf8.startIndex, end = utf8.endIndex
        while start < end, utf8[start] == 0x20 || utf8[start] == 0x09 { start = utf8.index(after: start) }
        while start < end {
            let last = utf8.index(before: end)
            guard utf8[last] == 0x20 || utf8[last] == 0x09 else { break }
            end = last
        }
        return String(decoding: utf8[start..<end], as: UTF8.self)
    }

    /// Whether the value starts with `prefix`, ignoring ASCII case (`Bearer`, `bearer`, ...).
    public func hasCaseInsensitivePrefix(_ prefix: String) -> Bool {
        func lower(_ byte: UInt8) -> UInt8 { (0x41...0x5A).contains(byte) ? byte | 0x20 : byte }
        var own = utf8.makeIterator()
        for expected in prefix.utf8 {
            guard let byte = own.next(), lower(byte) == lower(expected) else { return false }
        }
        return true
    }
}

extension String {
    /// The credential of an `Authorization: Bearer <credential>` value (the scheme's case ignored,
    /// spaces around the credential trimmed); nil for any other scheme.
    public var bearerCredential: String? {
        guard hasCaseInsensitivePrefix("bearer ") else { return nil }
        return dropFirst(7).trimmedHeaderValue
    }
}

extension HTTPFields {
    /// The fields, in order, in storage reserved for all of them. `HTTPFields` has no append of its
    /// own: its collection conformance's adds a field through `replaceSubrange`, growing the
    /// storage each time, and `append(contentsOf:)` or `replaceSubrange` with an array run
    /// unspecialised (~600 instructions a field); one field at a time into reserved storage is
    /// the cheapest way in (~250).
    public init(gathered fields: [HTTPField]) {
        self.init()
        reserveCapacity(fields.count)
        for field in fields { append(field) }
    }

    /// What `self[name]` reads — the field's value, a repeated field's values joined by ", " —
    /// without the generic join behind that subscript, which costs ~4 K instructions for a field
    /// that is there (the data plane reads an agent's credential on every call).
    public func value(_ name: HTTPField.Name) -> String? {
        guard name != .cookie else { return self[name] }  // joined by "; "
        let values = self[values: name]
        switch values.count {
        case 0: return nil
        case 1: return values[0]
        default: return values.joined(separator: ", ")
        }
    }
}
