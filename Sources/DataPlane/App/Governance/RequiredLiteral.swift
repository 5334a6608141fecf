import Common
import Foundation

/// Text that every match of a content rule's expression must contain, so a string without it is
/// passed over with a byte search instead of running the expression on it. `NSRegularExpression`
/// on Linux converts each string to UTF-16 for ICU first: ~325 µs per rule for a 40 KB
/// conversation (bench/RESULTS.md, session 17), on every governed call.
///
/// Found only where that is certain: the expression's leading run of plain ASCII characters, in a
/// pattern without alternation (`|`), inline options or groups (`(?`), quoted runs (`\Q`), and
/// compiled without options (case-sensitive). A character followed by a quantifier may be absent
/// and ends the run before it. Anything else has no required literal and always runs the expression.
struct RequiredLiteral: Sendable {
    let bytes: [UInt8]

    init?(pattern: String, options: NSRegularExpression.Options = []) {
        guard options.isEmpty, !pattern.contains("|"), !pattern.contains("(?"), !pattern.contains("\\Q") else { return nil }
        var run: [UInt8] = []
        var characters = pattern.utf8.makeIterator()
        var next = characters.next()
        if next == UInt8(ascii: "^") { next = characters.next() }
        while let byte = next, byte < 0x80, !Self.metacharacters.contains(byte) {
            run.append(byte)
            next = characters.next()
        }
        if let byte = next, Self.quantifiers.contains(byte), !run.isEmpty { run.removeLast() }
        guard run.count >= 2 else { return nil }
        bytes = run
    }

    /// Whether `text` contains the literal (when it does not, the expression cannot match it).
    func occurs(in text: String) -> Bool {
        ByteSearch.firstOffset(of: bytes, in: text.utf8) != nil
    }

    private static let metacharacters = Set("\\^$.|?*+()[]{}#".utf8)
    private static let quantifiers = Set("?*+{".utf8)
}
