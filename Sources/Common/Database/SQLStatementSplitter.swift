/// Splits a SQL file into single statements.
///
/// postgres-nio runs every query as a prepared statement, which accepts one command only, so a
/// migration file is split on the `;` that end statements: not those inside quotes, quoted
/// identifiers, dollar-quoted bodies (`$$ … $$`, `$tag$ … $tag$`) or comments.
public enum SQLStatementSplitter {
    public static func split(_ sql: String) -> [String] {
        let chars = Array(sql.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0
        // Whether the statement so far has anything outside comments and white space.
        var significant = false

        func flush() {
            if significant { statements.append(String(current).trimmingWhitespace) }
            current = String.UnicodeScalarView()
            significant = false
        }

        while index < chars.count {
            let char = chars[index]
            let next: Unicode.Scalar? = index + 1 < chars.count ? chars[index + 1] : nil
            switch char {
            case "-" where next == "-":
                // Line comment: copy through the end of the line.
                while index < chars.count, chars[index] != "\n" {
                    current.append(chars[index])
                    index += 1
                }
                continue
            case "/" where next == "*":
                // Block comments nest in PostgreSQL.
                var depth = 0
                repeat {
                    if chars[index] == "/", index + 1 < chars.count, chars[index + 1] == "*" {
                        depth += 1
                        current.append(contentsOf: [chars[index], chars[index + 1]])
                        index += 2
                    } else if chars[index] == "*", index + 1 < chars.count, chars[index + 1] == "/" {
                        depth -= 1
                        current.append(contentsOf: [chars[index], chars[index + 1]])
                        index += 2
                    } else {
                        current.append(chars[index])
                        index += 1
                    }
                } while depth > 0 && index < chars.count
                continue
            case "'", "\"":
                // Quoted literal or identifier; a doubled quote is an escaped quote.
                significant = true
                current.append(char)
                index += 1
                while index < chars.count {
                    current.append(chars[index])
                    if chars[index] == char {
                        if index + 1 < chars.count, chars[index + 1] == char {
                            current.append(chars[index + 1])
                            index += 2
                            continue
                        }
                        index += 1
                        break
                    }
                    index += 1
                }
                continue
            case "$":
                if let tag = dollarTag(chars, at: index) {
                    significant = true
                    current.append(contentsOf: tag)
                    index += tag.count
                    // Copy until the same tag closes the body.
                    while index < chars.count {
                        if chars[index] == "$", chars[index...].starts(with: tag) {
                            current.append(contentsOf: tag)
                            index += tag.count
                            break
                        }
                        current.append(chars[index])
                        index += 1
                    }
                    continue
                }
            case ";":
                flush()
                index += 1
                continue
            default:
                break
            }
            if !char.properties.isWhitespace { significant = true }
            current.append(char)
            index += 1
        }
        flush()
        return statements
    }

    /// `$tag$` starting at `index`, if there is one (`$1` parameters are not tags).
    private static func dollarTag(_ chars: [Unicode.Scalar], at index: Int) -> [Unicode.Scalar]? {
        var end = index + 1
        while end < chars.count, chars[end] == "_" || chars[end].properties.isAlphabetic
            || (end > index + 1 && ("0"..."9").contains(chars[end]))
        {
            end += 1
        }
        guard end < chars.count, chars[end] == "$" else { return nil }
        return Array(chars[index...end])
    }
}

extension StringProtocol {
    var trimmingWhitespace: String {
        var scalars = Substring(self).unicodeScalars[...]
        while let first = scalars.first, first.properties.isWhitespace { scalars = scalars.dropFirst() }
        while let last = scalars.last, last.properties.isWhitespace { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
