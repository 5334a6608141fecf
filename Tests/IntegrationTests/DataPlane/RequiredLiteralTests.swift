@testable import DataPlane
import Foundation
import TestSupport
import Testing

/// A content rule skips the expression for strings without its required literal: that must never
/// skip a string the expression matches (a missed block lets a secret through).
@Suite struct RequiredLiteralTests {
    @Test func theLiteralIsTheLeadingPlainRunAndOnlyWhenItIsCertain() {
        func literal(_ pattern: String, _ options: NSRegularExpression.Options = []) -> String? {
            RequiredLiteral(pattern: pattern, options: options).map { String(decoding: $0.bytes, as: UTF8.self) }
        }
        #expect(literal("AKIA[0-9A-Z]{16}") == "AKIA")
        #expect(literal("sk-[A-Za-z0-9]{20,}") == "sk-")
        #expect(literal("^-----BEGIN [A-Z ]*PRIVATE KEY-----") == "-----BEGIN ")
        #expect(literal("AKI?A") == "AK", "a character a quantifier follows may be absent")
        #expect(literal("ghp_x*") == "ghp_")
        #expect(literal("ab*") == nil, "one character is not worth a search")
        #expect(literal("AKIA|ASIA") == nil)
        #expect(literal("(?i)secret") == nil)
        #expect(literal("secret", .caseInsensitive) == nil)
        #expect(literal("\\Qa.b\\E") == nil)
        #expect(literal("[a-z]+key") == nil)
        #expect(literal("\\bpassword") == nil)
        #expect(literal("pässword") == nil, "the run stops at the first non-ASCII character")
    }

    @Test func noStringTheExpressionMatchesIsSkipped() throws {
        var generator = SeededGenerator(seed: 0x5EC2E7)
        let pieces = ["a", "b", "c", "A", "-", " ", "ab", "abc", "[a-c]", "[^a]", ".", "\\d", "\\w", "\\s", "(ab)", "(a|b)", "|", "^", "$", "1"]
        let quantifiers = ["", "", "", "?", "*", "+", "{0,2}", "{1}", "{2,}"]
        let alphabet = Array("abcA- 1")
        var checked = 0, skipped = 0
        for _ in 0..<1_500 {
            var pattern = ""
            for _ in 0..<Int.random(in: 1...5, using: &generator) {
                pattern += pieces.randomElement(using: &generator)! + quantifiers.randomElement(using: &generator)!
            }
            guard let expression = try? NSRegularExpression(pattern: pattern) else { continue }
            let literal = RequiredLiteral(pattern: pattern, options: expression.options)
            for _ in 0..<20 {
                let text = String((0..<Int.random(in: 0...24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
                let matches = expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
                if let literal, !literal.occurs(in: text) {
                    skipped += 1
                    #expect(!matches, "pattern \(pattern) matches \"\(text)\", which lacks its literal \(String(decoding: literal.bytes, as: UTF8.self))")
                }
                checked += 1
            }
        }
        #expect(checked > 20_000 && skipped > 1_000, "the generator exercised the prefilter (\(checked) checked, \(skipped) skipped)")
    }
}
