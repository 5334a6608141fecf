import DataPlane
import Foundation
import Testing

/// Which price a call pays: the org's own before the defaults, an exact model before its longest
/// priced prefix, the catch-all (`*`) last — and never another org's.
@Suite struct PriceBookTests {
    private static func price(_ input: Int64) -> ModelPrice {
        ModelPrice(inputPerMillion: input, outputPerMillion: 0, cachedInputPerMillion: 0)
    }

    private let org = UUID(), otherOrg = UUID()

    private func book() -> PriceBook {
        let book = PriceBook(database: nil)
        book.set(Self.price(1), orgID: nil, provider: "openai", model: "gpt-4o")
        book.set(Self.price(2), orgID: nil, provider: "openai", model: "gpt-4o-mini")
        book.set(Self.price(3), orgID: nil, provider: "openai", model: "*")
        book.set(Self.price(4), orgID: nil, provider: "anthropic", model: "claude-sonnet-4")
        book.set(Self.price(10), orgID: org, provider: "openai", model: "gpt-4o-mini-2024-07-18")
        book.set(Self.price(11), orgID: org, provider: "openai", model: "o1")
        book.set(Self.price(20), orgID: otherOrg, provider: "openai", model: "gpt-4o")
        book.set(Self.price(21), orgID: otherOrg, provider: "openai", model: "*")
        return book
    }

    @Test func exactBeforePrefixAndLongestPrefixFirst() {
        let book = book()
        #expect(book.price(orgID: UUID(), provider: "openai", model: "gpt-4o-mini")?.inputPerMillion == 2)
        #expect(book.price(orgID: UUID(), provider: "openai", model: "gpt-4o-mini-2024-07-18")?.inputPerMillion == 2)
        #expect(book.price(orgID: UUID(), provider: "openai", model: "gpt-4o-2024-08-06")?.inputPerMillion == 1)
        #expect(book.price(orgID: UUID(), provider: "anthropic", model: "claude-sonnet-4-20250514")?.inputPerMillion == 4)
    }

    @Test func theOrgsOwnPricesComeFirstIncludingItsPrefixes() {
        let book = book()
        #expect(book.price(orgID: org, provider: "openai", model: "gpt-4o-mini-2024-07-18")?.inputPerMillion == 10)
        // The org's prefix beats the defaults' exact price and their prefixes.
        #expect(book.price(orgID: org, provider: "openai", model: "o1-preview")?.inputPerMillion == 11)
        // What the org does not price comes from the defaults.
        #expect(book.price(orgID: org, provider: "openai", model: "gpt-4o")?.inputPerMillion == 1)
    }

    @Test func catchAllsLastTheOrgsBeforeTheDefaults() {
        let book = book()
        #expect(book.price(orgID: org, provider: "openai", model: "davinci")?.inputPerMillion == 3)
        #expect(book.price(orgID: otherOrg, provider: "openai", model: "davinci")?.inputPerMillion == 21)
        #expect(book.price(orgID: org, provider: "anthropic", model: "claude-haiku")  == nil)
    }

    @Test func anotherOrgsPricesNeverApply() {
        let book = book()
        #expect(book.price(orgID: org, provider: "openai", model: "gpt-4o")?.inputPerMillion == 1)
        #expect(book.price(orgID: otherOrg, provider: "openai", model: "gpt-4o")?.inputPerMillion == 20)
        #expect(book.price(orgID: otherOrg, provider: "openai", model: "o1")?.inputPerMillion == 21)
    }

    @Test func settingAPriceAgainReplacesIt() {
        let book = book()
        book.set(Self.price(99), orgID: nil, provider: "openai", model: "gpt-4o")
        #expect(book.price(orgID: UUID(), provider: "openai", model: "gpt-4o-2024-08-06")?.inputPerMillion == 99)
    }
}
