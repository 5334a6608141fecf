import Common
import Foundation
import PostgresNIO
import Synchronization

/// A policy version as enforcement needs it: its rules, compiled once.
public struct ActivePolicy: Sendable {
    public let policyID: UUID
    public let name: String
    public let version: Int
    public let rules: PolicyRules
    public let contentRules: [CompiledContentRule]

    /// `name@version`, as errors and steps name it.
    public var reference: String { "\(name)@\(version)" }

    /// A stored version, ready to enforce. Stored versions were validated when published; one that
    /// no longer parses enforces nothing rather than blocking every call.
    public init(policyID: UUID, name: String, version: Int, rules json: JSONValue) {
        let rules = (try? PolicyRules.parse(json)) ?? PolicyRules()
        self.policyID = policyID
        self.name = name
        self.version = version
        self.rules = rules
        self.contentRules = (rules.content ?? []).compactMap { rule in
            (try? NSRegularExpression(pattern: rule.pattern)).map {
                CompiledContentRule(rule: rule, expression: $0, literal: RequiredLiteral(pattern: rule.pattern, options: $0.options))
            }
        }
    }
}

/// A content rule ready to run: its expression, compiled once, and the text every match contains.
/// A class: the screen's walk over a request passes its rule to every string, and a struct (the
/// rule's texts, the literal's bytes) was copied and destroyed at each of them (~1,800 times for a
/// 40 KB conversation).
public final class CompiledContentRule: @unchecked Sendable {
    // Immutable, and NSRegularExpression is documented as thread-safe.
    public let rule: PolicyRules.ContentRule
    public let expression: NSRegularExpression
    /// When known, text every match contains: strings without it are not given to the expression.
    let literal: RequiredLiteral?

    init(rule: PolicyRules.ContentRule, expression: NSRegularExpression, literal: RequiredLiteral?) {
        self.rule = rule
        self.expression = expression
        self.literal = literal
    }

    /// Whether the expression matches somewhere in `text`.
    func matches(_ text: String) -> Bool {
        if let literal, !literal.occurs(in: text) { return false }
        return expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// `text` with every match replaced by `template`.
    func replacingMatches(in text: String, with template: String) -> String {
        if let literal, !literal.occurs(in: text) { return text }
        return expression.stringByReplacingMatches(in: text, range: NSRange(text.startIndex..., in: text), withTemplate: template)
    }
}

/// Loads policy versions. Versions are immutable, so a loaded one is cached for the life of the
/// process (bounded); only name resolution (`x-rungate-policy`) goes to the database each time.
public final class PolicyStore: Sendable {
    /// A version of one org's policy (the org is part of the key: a cached version is only ever
    /// served to the org the database served it to).
    private struct VersionKey: Hashable { let orgID: UUID; let policyID: UUID; let version: Int }
    private struct NameKey: Hashable { let orgID: UUID; let name: String; let version: Int }

    private let database: Database
    private let cache = Mutex<[VersionKey: ActivePolicy]>([:])

    public init(database: Database) {
        self.database = database
    }

    public func policy(id: UUID, version: Int, orgID: UUID) async throws -> ActivePolicy? {
        let key = VersionKey(orgID: orgID, policyID: id, version: version)
        if let cached = cache.withLock({ $0[key] }) { return cached }
        guard let (name, rulesText) = try await database.query(
            """
            SELECT p.name, v.rules::text FROM policy_versions v JOIN policies p ON p.id = v.policy_id
            WHERE v.policy_id = \(id) AND v.version = \(version) AND v.org_id = \(orgID)
            """, { try await $0.firstRow(decoding: (String, String).self) }) else { return nil }
        let policy = ActivePolicy(policyID: id, name: name, version: version, rules: JSONValue.parse(rulesText) ?? [:])
        cache.withLock { cache in
            if cache.count >= 10_000 { cache.removeAll(keepingCapacity: true) }
            cache[key] = policy
        }
        return policy
    }

    private let names = Mutex<[NameKey: UUID]>([:])

    /// The id of `name` in the org, if that version exists (cached: published versions stay).
    public func resolve(name: String, version: Int, orgID: UUID) async throws -> UUID? {
        let key = NameKey(orgID: orgID, name: name, version: version)
        if let cached = names.withLock({ $0[key] }) { return cached }
        let id = try await database.query(
            """
            SELECT p.id FROM policies p JOIN policy_versions v ON v.policy_id = p.id
            WHERE p.org_id = \(orgID) AND p.name = \(name) AND v.version = \(version)
            """) { try await $0.first(decoding: UUID.self) }
        if let id {
            names.withLock { names in
                if names.count >= 10_000 { names.removeAll(keepingCapacity: true) }
                names[key] = id
            }
        }
        return id
    }
}
