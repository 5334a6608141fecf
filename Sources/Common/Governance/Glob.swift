/// Shell-style globs for model and tool names: `*` matches any run of characters, `?` one character,
/// everything else itself. Deliberately small: no character classes, no escapes.
public struct Glob: Sendable, Hashable, Codable, CustomStringConvertible {
    public let pattern: String

    /// Refuses patterns that are empty, too long, or hold characters names never contain.
    public init(_ pattern: String) throws(GlobError) {
        guard !pattern.isEmpty else { throw .empty }
        guard pattern.count <= 200 else { throw .tooLong }
        if let bad = pattern.first(where: { !($0.isLetter || $0.isNumber || "-_.:/@*?".contains($0)) }) {
            throw .invalidCharacter(bad)
        }
        self.pattern = pattern
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        try self.init(try container.decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(pattern)
    }

    public var description: String { pattern }

    public func matches(_ value: String) -> Bool {
        Self.match(Array(pattern), Array(value))
    }

    /// Iterative wildcard matching with backtracking to the last `*` (linear in practice).
    private static func match(_ pattern: [Character], _ value: [Character]) -> Bool {
        var p = 0, v = 0, star = -1, mark = 0
        while v < value.count {
            if p < pattern.count, pattern[p] == "?" || pattern[p] == value[v] {
                p += 1; v += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p; mark = v; p += 1
            } else if star >= 0 {
                p = star + 1; mark += 1; v = mark
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}

public enum GlobError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case tooLong
    case invalidCharacter(Character)

    public var description: String {
        switch self {
        case .empty: "a glob cannot be empty"
        case .tooLong: "a glob is at most 200 characters"
        case .invalidCharacter(let character): "`\(character)` cannot appear in a glob (letters, digits, - _ . : / @ and the wildcards * ? only)"
        }
    }
}
