import Common
import Crypto
import Foundation
import HTTPTypes

/// The checks between a call and its provider that come from the run's policy, in the design's
/// order: policy (models, tools, run ceilings, loops, content) → 403, then rate limits → 429.
/// Budgets and approval gates follow in their own steps.
struct GovernanceGate: Sendable {
    let policies: PolicyStore
    let counters: GovernanceCounters
    /// Whether rate limits let calls through while Redis is unreachable (budgets never do).
    let failOpenRateLimits: Bool

    /// What a call admitted by its policy carries on.
    struct Admission: Sendable {
        /// The request to forward when content rules rewrote it.
        var rewritten: JSONValue?
        /// `X-RateLimit-*` for the answer.
        var headers: HTTPFields = [:]
        /// Counters to charge with the call's tokens once they are known.
        var tokenCounters: [String] = []
    }

    /// A refusal, with the rule path that fired for the step record.
    struct Refusal: Error {
        let error: RungateError
        let rule: String
    }

    func admit(json: JSONValue, model: String?, principal: AgentPrincipal, run: RunHandle) async throws(Refusal) -> (ActivePolicy?, Admission) {
        var admission = Admission()
        guard let policyID = run.policyID, let version = run.policyVersion else { return (nil, admission) }
        let loaded: ActivePolicy?
        do {
            loaded = try await policies.policy(id: policyID, version: version, orgID: principal.orgID)
        } catch {
            throw Refusal(error: .dependencyUnavailable("database"), rule: "policy.load")
        }
        guard let policy = loaded else { return (nil, admission) }
        let evaluator = PolicyEvaluator(policy: policy)
        func forbid(_ violation: PolicyViolation) -> Refusal {
            Refusal(error: RungateError(.forbidden, code: violation.code, message: violation.message, recovery: violation.recovery,
                                        rule: RuleMatch(rule: violation.rule, policy: policy.name, policyVersion: policy.version)),
                    rule: violation.rule)
        }

        if let violation = evaluator.check(request: json, model: model, runSteps: run.stepCount, runTokens: run.tokens) {
            throw forbid(violation)
        }
        if let loop = policy.rules.loopDetection {
            let key = GovernanceCounters.key(org: principal.orgID, "loop", run.id.uuidString.lowercased(), Self.normalisedFingerprint(json))
            let seen: Int
            do {
                seen = try await counters.add(key, window: loop.windowSeconds)
            } catch {
                throw Refusal(error: .dependencyUnavailable("redis"), rule: "loop_detection")
            }
            if seen > loop.maxRepeats {
                throw forbid(PolicyViolation(
                    rule: "loop_detection", code: "loop_detected",
                    message: "The same request was sent \(seen) times within \(loop.windowSeconds) s in this run; policy \(policy.reference) allows \(loop.maxRepeats).",
                    recovery: "Change the request (the agent may be stuck in a loop), or wait \(loop.windowSeconds) s."))
            }
        }
        switch evaluator.screen(request: json) {
        case .failure(let violation): throw forbid(violation)
        case .success(let rewritten): admission.rewritten = rewritten
        }

        let minute = Int(Date().timeIntervalSince1970) / 60
        var limits: [GovernanceCounters.Limit] = []
        var described: [(rule: String, what: String, ceiling: Int)] = []
        for (index, rule) in (policy.rules.rateLimits ?? []).enumerated() {
            let subject = switch rule.scope {
            case .agent: principal.agentID
            case .policy: policy.policyID
            case .org: principal.orgID
            }
            let base = [rule.scope.rawValue, subject.uuidString.lowercased(), String(minute)]
            if let requests = rule.requestsPerMinute {
                limits.append(.init(key: GovernanceCounters.key(org: principal.orgID, "rl", base.joined(separator: ":"), "req"), ceiling: requests, cost: 1))
                described.append(("rate_limits[\(index)].requests_per_minute", "requests per minute per \(rule.scope.rawValue)", requests))
            }
            if let tokens = rule.tokensPerMinute {
                let key = GovernanceCounters.key(org: principal.orgID, "rl", base.joined(separator: ":"), "tok")
                limits.append(.init(key: key, ceiling: tokens, cost: 0))
                described.append(("rate_limits[\(index)].tokens_per_minute", "tokens per minute per \(rule.scope.rawValue)", tokens))
                admission.tokenCounters.append(key)
            }
        }
        guard !limits.isEmpty else { return (policy, admission) }
        let decision: GovernanceCounters.Decision
        do {
            decision = try await counters.admit(limits, window: 60)
        } catch {
            if failOpenRateLimits { return (policy, admission) }
            throw Refusal(error: .dependencyUnavailable("redis"), rule: "rate_limits")
        }
        let limit = described[decision.index]
        let headers: HTTPFields = [
            .xRateLimitLimit: String(limit.ceiling), .xRateLimitRemaining: String(decision.remaining),
            .xRateLimitReset: String(decision.resetSeconds),
        ]
        guard decision.allowed else {
            var error = RungateError(
                .tooManyRequests, code: "rate_limited",
                message: "The limit of \(limit.ceiling) \(limit.what) set by policy \(policy.reference) is reached.",
                recovery: "Retry after \(decision.resetSeconds) s (Retry-After).",
                rule: RuleMatch(rule: limit.rule, policy: policy.name, policyVersion: policy.version),
                details: ["limit": .number(Double(limit.ceiling)), "reset_seconds": .number(Double(decision.resetSeconds))],
                headers: headers)
            error.headers[.retryAfter] = String(decision.resetSeconds)
            throw Refusal(error: error, rule: limit.rule)
        }
        admission.headers = headers
        return (policy, admission)
    }

    /// Charges the call's tokens to its tokens-per-minute windows (off the request path).
    func charge(tokens: Int, to counterKeys: [String]) {
        guard tokens > 0, !counterKeys.isEmpty else { return }
        let counters = self.counters
        Task {
            for key in counterKeys { _ = try? await counters.add(key, tokens, window: 60) }
        }
    }

    /// The request without what varies between identical attempts (stream flags, user tags), keys
    /// sorted: the same question asked again hashes the same.
    static func normalisedFingerprint(_ json: JSONValue) -> String {
        guard case .object(var object) = json else { return "" }
        for key in ["stream", "stream_options", "user", "metadata", "n"] { object[key] = nil }
        let data = (try? JSONEncoder.sortedKeys.encode(JSONValue.object(object))) ?? Data()
        return SHA256.hash(data: data).hexString.prefix(32).description
    }
}

extension HTTPField.Name {
    static let xRateLimitLimit = HTTPField.Name("x-ratelimit-limit")!
    static let xRateLimitRemaining = HTTPField.Name("x-ratelimit-remaining")!
    static let xRateLimitReset = HTTPField.Name("x-ratelimit-reset")!
}
