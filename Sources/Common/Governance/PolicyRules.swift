import Foundation

/// The rules of one policy version, as the design lists them. Stored as JSON in
/// `policy_versions.rules`; parsed and validated by `PolicyRules.parse`, enforced by the data plane.
public struct PolicyRules: Sendable, Equatable, Codable {
    public struct Models: Sendable, Equatable, Codable {
        /// When present, only models matching one of these may be called.
        public var allow: [Glob]?
        /// Models matching one of these are refused (deny wins over allow).
        public var deny: [Glob]?
    }

    public struct ApprovalGate: Sendable, Equatable, Codable {
        public var tool: Glob
        /// Argument name → regular expression; the gate holds only when every named argument matches.
        public var arguments: [String: String]?
    }

    public struct Tools: Sendable, Equatable, Codable {
        /// A request that offers or calls a matching tool is refused (403).
        public var deny: [Glob]?
        /// A response proposing a matching tool call waits for a human (202).
        public var requireApproval: [ApprovalGate]?
    }

    public enum RateLimitScope: String, Sendable, Codable, CaseIterable { case agent, policy, org }

    public struct RateLimit: Sendable, Equatable, Codable {
        public var scope: RateLimitScope
        public var requestsPerMinute: Int?
        public var tokensPerMinute: Int?
    }

    public struct LoopDetection: Sendable, Equatable, Codable {
        /// The same request fingerprint this many times within the window is blocked.
        public var maxRepeats: Int
        public var windowSeconds: Int
    }

    public enum ContentAction: String, Sendable, Codable, CaseIterable { case block, redact }
    public enum ContentTarget: String, Sendable, Codable, CaseIterable { case request, response, both }

    public struct ContentRule: Sendable, Equatable, Codable {
        public var name: String
        public var pattern: String
        public var action: ContentAction
        public var appliesTo: ContentTarget
    }

    public var models: Models?
    public var tools: Tools?
    public var rateLimits: [RateLimit]?
    public var loopDetection: LoopDetection?
    public var content: [ContentRule]?
    public var maxStepsPerRun: Int?
    public var maxTokensPerRun: Int?

    public init() {}
}

/// One mistake in a policy document, with the JSON path where it is.
public struct PolicyProblem: Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let message: String

    public var description: String { "\(path): \(message)" }
}

/// A policy document with mistakes; every one is listed.
public struct InvalidPolicy: Error, Sendable {
    public let problems: [PolicyProblem]
}

extension PolicyRules {
    /// Parses and validates `json`, naming every mistake's path (e.g. `rules.tools.deny[1]`): unknown
    /// keys, wrong types, bad globs, regexes that do not compile, numbers out of range.
    public static func parse(_ json: JSONValue, at root: String = "rules") throws(InvalidPolicy) -> PolicyRules {
        var reader = Reader()
        let rules = reader.rules(json, root)
        guard reader.problems.isEmpty else { throw InvalidPolicy(problems: reader.problems) }
        return rules
    }

    /// The rules as stored and shown: snake_case JSON.
    public var json: JSONValue {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = .sortedKeys
        return (try? JSONDecoder().decode(JSONValue.self, from: encoder.encode(self))) ?? [:]
    }
}

/// Walks a policy document, collecting problems instead of stopping at the first.
private struct Reader {
    var problems: [PolicyProblem] = []

    mutating func fail(_ path: String, _ message: String) { problems.append(PolicyProblem(path: path, message: message)) }

    mutating func object(_ value: JSONValue, _ path: String, keys: Set<String>) -> [String: JSONValue]? {
        guard case .object(let object) = value else { fail(path, "must be an object"); return nil }
        for key in object.keys.sorted() where !keys.contains(key) {
            fail("\(path).\(key)", "unknown key (expected one of: \(keys.sorted().joined(separator: ", ")))")
        }
        return object
    }

    mutating func array(_ value: JSONValue, _ path: String, max: Int = 500) -> [JSONValue]? {
        guard case .array(let array) = value else { fail(path, "must be an array"); return nil }
        guard array.count <= max else { fail(path, "at most \(max) entries"); return nil }
        return array
    }

    mutating func integer(_ value: JSONValue, _ path: String, _ range: ClosedRange<Int>) -> Int? {
        guard case .number(let number) = value, number == number.rounded(), let integer = Int(exactly: number) else {
            fail(path, "must be an integer"); return nil
        }
        guard range.contains(integer) else { fail(path, "must be between \(range.lowerBound) and \(range.upperBound)"); return nil }
        return integer
    }

    mutating func string(_ value: JSONValue, _ path: String) -> String? {
        guard case .string(let string) = value, !string.isEmpty else { fail(path, "must be a non-empty string"); return nil }
        return string
    }

    mutating func glob(_ value: JSONValue, _ path: String) -> Glob? {
        guard let string = string(value, path) else { return nil }
        do {
            return try Glob(string)
        } catch {
            fail(path, error.description); return nil
        }
    }

    mutating func globs(_ value: JSONValue?, _ path: String) -> [Glob]? {
        guard let value else { return nil }
        return array(value, path)?.enumerated().compactMap { glob($1, "\(path)[\($0)]") }
    }

    mutating func regex(_ value: JSONValue, _ path: String) -> String? {
        guard let pattern = string(value, path) else { return nil }
        guard pattern.count <= 1000 else { fail(path, "a pattern is at most 1000 characters"); return nil }
        do {
            _ = try NSRegularExpression(pattern: pattern)
            return pattern
        } catch {
            fail(path, "is not a valid regular expression"); return nil
        }
    }

    mutating func enumeration<E: RawRepresentable & CaseIterable>(_ value: JSONValue, _ path: String, _: E.Type) -> E? where E.RawValue == String {
        guard case .string(let raw) = value, let parsed = E(rawValue: raw) else {
            fail(path, "must be one of: \(E.allCases.map(\.rawValue).joined(separator: ", "))"); return nil
        }
        return parsed
    }

    mutating func rules(_ json: JSONValue, _ root: String) -> PolicyRules {
        var rules = PolicyRules()
        let keys: Set = ["models", "tools", "rate_limits", "loop_detection", "content", "max_steps_per_run", "max_tokens_per_run"]
        guard let object = object(json, root, keys: keys) else { return rules }
        if let value = object["models"], let models = self.object(value, "\(root).models", keys: ["allow", "deny"]) {
            rules.models = .init(allow: globs(models["allow"], "\(root).models.allow"), deny: globs(models["deny"], "\(root).models.deny"))
        }
        if let value = object["tools"], let tools = self.object(value, "\(root).tools", keys: ["deny", "require_approval"]) {
            var gates: [PolicyRules.ApprovalGate]?
            if let value = tools["require_approval"], let entries = array(value, "\(root).tools.require_approval") {
                gates = entries.enumerated().compactMap { index, entry in gate(entry, "\(root).tools.require_approval[\(index)]") }
            }
            rules.tools = .init(deny: globs(tools["deny"], "\(root).tools.deny"), requireApproval: gates)
        }
        if let value = object["rate_limits"], let entries = array(value, "\(root).rate_limits", max: 20) {
            rules.rateLimits = entries.enumerated().compactMap { index, entry in rateLimit(entry, "\(root).rate_limits[\(index)]") }
        }
        if let value = object["loop_detection"], let loop = self.object(value, "\(root).loop_detection", keys: ["max_repeats", "window_seconds"]) {
            let repeats = loop["max_repeats"].flatMap { integer($0, "\(root).loop_detection.max_repeats", 2...1000) }
            let window = loop["window_seconds"].flatMap { integer($0, "\(root).loop_detection.window_seconds", 1...86_400) }
            if loop["max_repeats"] == nil { fail("\(root).loop_detection.max_repeats", "is required") }
            if loop["window_seconds"] == nil { fail("\(root).loop_detection.window_seconds", "is required") }
            if let repeats, let window { rules.loopDetection = .init(maxRepeats: repeats, windowSeconds: window) }
        }
        if let value = object["content"], let entries = array(value, "\(root).content", max: 100) {
            rules.content = entries.enumerated().compactMap { index, entry in contentRule(entry, "\(root).content[\(index)]") }
        }
        rules.maxStepsPerRun = object["max_steps_per_run"].flatMap { integer($0, "\(root).max_steps_per_run", 1...1_000_000) }
        rules.maxTokensPerRun = object["max_tokens_per_run"].flatMap { integer($0, "\(root).max_tokens_per_run", 1...1_000_000_000) }
        return rules
    }

    mutating func gate(_ value: JSONValue, _ path: String) -> PolicyRules.ApprovalGate? {
        guard let object = object(value, path, keys: ["tool", "arguments"]) else { return nil }
        guard let toolValue = object["tool"] else { fail("\(path).tool", "is required"); return nil }
        let tool = glob(toolValue, "\(path).tool")
        var arguments: [String: String]?
        if let value = object["arguments"] {
            guard case .object(let matchers) = value else { fail("\(path).arguments", "must be an object of argument name → regular expression"); return nil }
            arguments = [:]
            for (name, pattern) in matchers.sorted(by: { $0.key < $1.key }) {
                if let pattern = regex(pattern, "\(path).arguments.\(name)") { arguments?[name] = pattern }
            }
        }
        return tool.map { .init(tool: $0, arguments: arguments) }
    }

    mutating func rateLimit(_ value: JSONValue, _ path: String) -> PolicyRules.RateLimit? {
        guard let object = object(value, path, keys: ["scope", "requests_per_minute", "tokens_per_minute"]) else { return nil }
        guard let scopeValue = object["scope"] else { fail("\(path).scope", "is required"); return nil }
        let scope = enumeration(scopeValue, "\(path).scope", PolicyRules.RateLimitScope.self)
        let requests = object["requests_per_minute"].flatMap { integer($0, "\(path).requests_per_minute", 1...1_000_000) }
        let tokens = object["tokens_per_minute"].flatMap { integer($0, "\(path).tokens_per_minute", 1...1_000_000_000) }
        if object["requests_per_minute"] == nil, object["tokens_per_minute"] == nil {
            fail(path, "needs requests_per_minute, tokens_per_minute or both")
        }
        return scope.map { .init(scope: $0, requestsPerMinute: requests, tokensPerMinute: tokens) }
    }

    mutating func contentRule(_ value: JSONValue, _ path: String) -> PolicyRules.ContentRule? {
        guard let object = object(value, path, keys: ["name", "pattern", "action", "applies_to"]) else { return nil }
        for key in ["name", "pattern", "action"] where object[key] == nil { fail("\(path).\(key)", "is required") }
        let name = object["name"].flatMap { string($0, "\(path).name") }
        let pattern = object["pattern"].flatMap { regex($0, "\(path).pattern") }
        let action = object["action"].flatMap { enumeration($0, "\(path).action", PolicyRules.ContentAction.self) }
        let target = object["applies_to"].map { enumeration($0, "\(path).applies_to", PolicyRules.ContentTarget.self) } ?? .both
        guard let name, let pattern, let action, let target else { return nil }
        return .init(name: name, pattern: pattern, action: action, appliesTo: target)
    }
}
