import Common
import Foundation

/// Why a call is refused by its run's policy, in the words the agent's error will carry.
public struct PolicyViolation: Error, Sendable, Equatable {
    /// The rule's path in the policy, e.g. `models.deny[0]` or `tools.deny`.
    public let rule: String
    public let code: String
    public let message: String
    public let recovery: String
}

/// Checks one request against a policy version: models, tools, content, and the run's step and
/// token ceilings. Pure: the caller supplies the run's counts.
public struct PolicyEvaluator: Sendable {
    public let policy: ActivePolicy

    public init(policy: ActivePolicy) {
        self.policy = policy
    }

    /// `tools`: the request's `toolNames(in:)`, found once per call by its caller (drift and the
    /// approval gates read them too; on a long conversation finding them is not free).
    public func check(model: String?, tools: [String], runSteps: Int, runTokens: Int) -> PolicyViolation? {
        let rules = policy.rules
        if let model {
            if let index = rules.models?.deny?.firstIndex(where: { $0.matches(model) }) {
                return PolicyViolation(rule: "models.deny[\(index)]", code: "model_denied",
                                       message: "The model `\(model)` is denied by policy \(policy.reference).",
                                       recovery: "Use a model the policy allows, or ask an org admin to change the policy.")
            }
            if let allow = rules.models?.allow, !allow.contains(where: { $0.matches(model) }) {
                return PolicyViolation(rule: "models.allow", code: "model_not_allowed",
                                       message: "The model `\(model)` is not among those policy \(policy.reference) allows (\(allow.map(\.pattern).joined(separator: ", "))).",
                                       recovery: "Use one of the allowed models.")
            }
        }
        if let deny = rules.tools?.deny {
            for tool in tools {
                if let index = deny.firstIndex(where: { $0.matches(tool) }) {
                    return PolicyViolation(rule: "tools.deny[\(index)]", code: "tool_denied",
                                           message: "The tool `\(tool)` is blocked by policy \(policy.reference); the request offers or calls it.",
                                           recovery: "Remove the tool from the request's tools and messages.")
                }
            }
        }
        if let max = rules.maxStepsPerRun, runSteps >= max {
            return PolicyViolation(rule: "max_steps_per_run", code: "run_step_limit",
                                   message: "The run has reached its limit of \(max) steps under policy \(policy.reference).",
                                   recovery: "Start a new run, or ask an org admin to raise max_steps_per_run.")
        }
        if let max = rules.maxTokensPerRun, runTokens >= max {
            return PolicyViolation(rule: "max_tokens_per_run", code: "run_token_limit",
                                   message: "The run has used \(runTokens) of its \(max) tokens under policy \(policy.reference).",
                                   recovery: "Start a new run, or ask an org admin to raise max_tokens_per_run.")
        }
        return nil
    }

    /// Applies the content rules that look at requests: a `block` rule that matches any string of
    /// the request refuses the call; `redact` rules rewrite every matching span of every string.
    /// Returns the body to forward (nil when unchanged).
    public func screen(request json: JSONValue) -> Result<JSONValue?, PolicyViolation> {
        let rules = policy.contentRules.enumerated().filter { $0.element.rule.appliesTo != .response }
        guard !rules.isEmpty else { return .success(nil) }
        for (index, compiled) in rules where compiled.rule.action == .block {
            let matched = Self.anyText(of: json, compiled.matches)
            if matched {
                return .failure(PolicyViolation(rule: "content[\(index)]", code: "content_blocked",
                                                message: "The request contains content matching `\(compiled.rule.name)`, which policy \(policy.reference) blocks.",
                                                recovery: "Remove that content (secrets, keys, injection markers) from the request."))
            }
        }
        let redactions = rules.filter { $0.element.rule.action == .redact }
        guard !redactions.isEmpty else { return .success(nil) }
        var changed = false
        let rewritten = Self.visitTexts(json) { text in
            var text = text
            for (_, compiled) in redactions {
                let replaced = compiled.replacingMatches(in: text, with: "[REDACTED:\(compiled.rule.name)]")
                if replaced != text { changed = true; text = replaced }
            }
            return text
        }
        return .success(changed ? rewritten : nil)
    }

    /// Tool names a request offers (`tools`) or that earlier turns called (OpenAI `tool_calls`,
    /// Anthropic `tool_use` blocks).
    static func toolNames(in json: JSONValue) -> [String] {
        var names: [String] = []
        if case .array(let tools)? = json["tools"] {
            for tool in tools {
                if let name = tool["function"]?["name"]?.stringValue ?? tool["name"]?.stringValue { names.append(name) }
            }
        }
        if case .array(let messages)? = json["messages"] ?? json["input"] {
            for message in messages {
                if case .array(let calls)? = message["tool_calls"] {
                    names += calls.compactMap { $0["function"]?["name"]?.stringValue }
                }
                if case .array(let blocks)? = message["content"] {
                    names += blocks.filter { $0["type"] == "tool_use" }.compactMap { $0["name"]?.stringValue }
                }
                if message["type"] == "function_call", let name = message["name"]?.stringValue { names.append(name) }
            }
        }
        return names
    }

    /// Whether any string value of the request (the ones `visitTexts` rewrites) satisfies
    /// `predicate`; stops at the first that does, and builds nothing.
    static func anyText(of json: JSONValue, _ predicate: (String) -> Bool) -> Bool {
        switch json {
        case .string(let text): predicate(text)
        case .array(let items): items.contains { anyText(of: $0, predicate) }
        case .object(let object): object.values.contains { anyText(of: $0, predicate) }
        default: false
        }
    }

    /// Rewrites every string value of the request — message texts, tool-call arguments, tool
    /// results, system prompts, tool descriptions, metadata: a secret is caught wherever the agent
    /// put it (the property tests generate requests with secrets in arbitrary places). Keys are
    /// left alone.
    @discardableResult
    static func visitTexts(_ json: JSONValue, _ transform: (String) -> String) -> JSONValue {
        switch json {
        case .string(let text): .string(transform(text))
        case .array(let items): .array(items.map { visitTexts($0, transform) })
        case .object(let object): .object(object.mapValues { visitTexts($0, transform) })
        default: json
        }
    }
}
