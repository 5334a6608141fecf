import Common
import Crypto
import Foundation
import HTTPTypes
import PostgresNIO

/// The checks between a call and its provider that come from the run's policy and its budgets, in
/// the design's order: policy (models, tools, run ceilings, content, loops) → 403, rate limits →
/// 429, budgets → 402. `evaluate` decides what needs no counter; `clear` then checks and charges
/// the loop counter, the rate-limit windows and the budget reservations in one preflight step.
struct GovernanceGate: Sendable {
    let policies: PolicyStore
    let counters: GovernanceCounters
    let preflight: Preflight
    /// Whether rate limits let calls through while Redis is unreachable (budgets never do).
    let failOpenRateLimits: Bool
    /// How long a budget reservation holds when its call never settles (longer than any call).
    let reservationLease: Duration

    /// What a call admitted by its policy carries on.
    struct Admission: Sendable {
        /// The request to forward when content rules rewrote it.
        var rewritten: JSONValue?
        /// The loop counter and rate-limit windows the call must clear.
        var plan = Preflight.Plan()
        /// For each rate limit of the plan, what a refusal or the rate-limit headers say of it.
        var described: [RateLimitDescription] = []
        /// Counters to charge with the call's tokens once they are known.
        var tokenCounters: [String] = []
        /// The tools the request offers or earlier turns called (`PolicyEvaluator.toolNames(in:)`).
        var toolNames: [String] = []
    }

    /// One rate-limit window of a call's plan; its texts are made only when a refusal needs them.
    struct RateLimitDescription: Sendable {
        let index: Int
        let scope: String
        let countsTokens: Bool
        let ceiling: Int

        /// The rule's path in the policy, e.g. `rate_limits[0].requests_per_minute`.
        var rule: String { "rate_limits[\(index)].\(countsTokens ? "tokens" : "requests")_per_minute" }
        /// What it counts, e.g. `requests per minute per agent`.
        var what: String { "\(countsTokens ? "tokens" : "requests") per minute per \(scope)" }
    }

    /// A refusal, with the rule path that fired for the step record.
    struct Refusal: Error {
        let error: RungateError
        let rule: String
    }

    func evaluate(json: JSONValue, model: String?, principal: AgentPrincipal, run: RunHandle) async throws(Refusal) -> (ActivePolicy?, Admission) {
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
        admission.toolNames = PolicyEvaluator.toolNames(in: json)
        if let violation = evaluator.check(model: model, tools: admission.toolNames, runSteps: run.stepCount, runTokens: run.tokens) {
            throw Self.forbid(violation, policy: policy)
        }
        switch evaluator.screen(request: json) {
        case .failure(let violation): throw Self.forbid(violation, policy: policy)
        case .success(let rewritten): admission.rewritten = rewritten
        }
        if let loop = policy.rules.loopDetection {
            let key = GovernanceCounters.key(org: principal.orgID, "loop", .id(run.id), .text(Self.normalisedFingerprint(json)))
            admission.plan.loop = (key, loop.windowSeconds, loop.maxRepeats)
        }

        // The minute the windows count, named in their keys: the plan resets them when it ends.
        let minute = admission.plan.rateWindowMinute
        for (index, rule) in (policy.rules.rateLimits ?? []).enumerated() {
            let subject = switch rule.scope {
            case .agent: principal.agentID
            case .policy: policy.policyID
            case .org: principal.orgID
            }
            func key(_ counted: RedisKey.Part) -> String {
                GovernanceCounters.key(org: principal.orgID, "rl", .text(rule.scope.rawValue), .id(subject), .number(minute), counted)
            }
            if let requests = rule.requestsPerMinute {
                admission.plan.limits.append(.init(key: key("req"), ceiling: requests, cost: 1))
                admission.described.append(.init(index: index, scope: rule.scope.rawValue, countsTokens: false, ceiling: requests))
            }
            if let tokens = rule.tokensPerMinute {
                let counter = key("tok")
                admission.plan.limits.append(.init(key: counter, ceiling: tokens, cost: 0))
                admission.described.append(.init(index: index, scope: rule.scope.rawValue, countsTokens: true, ceiling: tokens))
                admission.tokenCounters.append(counter)
            }
        }
        return (policy, admission)
    }

    /// Checks and charges the call's loop counter and rate-limit windows and reserves `reserve` on
    /// every budget, in one atomic step; answers the `X-RateLimit-*` headers and the budget hold.
    func clear(_ admission: Admission, policy: ActivePolicy?, budgets: [ApplicableBudget], reserve: Int64, principal: AgentPrincipal,
               run: RunHandle) async throws(Refusal) -> (HTTPFields, BudgetHold) {
        var plan = admission.plan
        plan.budgets = budgets
        plan.reserve = reserve
        plan.lease = reservationLease
        plan.runID = run.id
        plan.orgID = principal.orgID
        // A run this call just created has spent nothing: its run budgets need no look-up.
        plan.seeds = budgets.map { run.created && $0.periodStart == nil ? 0 : nil }
        let outcome: Preflight.Outcome
        do {
            outcome = try await preflight.run(plan)
        } catch {
            // Budgets and loop detection never fail open; rate limits may, when configured.
            if !budgets.isEmpty { throw Refusal(error: .dependencyUnavailable(error is PSQLError ? "database" : "redis"), rule: "budget") }
            if plan.loop != nil { throw Refusal(error: .dependencyUnavailable("redis"), rule: "loop_detection") }
            if failOpenRateLimits { return ([:], .none) }
            throw Refusal(error: .dependencyUnavailable("redis"), rule: "rate_limits")
        }
        func headers(_ decision: GovernanceCounters.Decision) -> HTTPFields {
            [.xRateLimitLimit: String(admission.described[decision.index].ceiling), .xRateLimitRemaining: String(decision.remaining),
             .xRateLimitReset: String(decision.resetSeconds)]
        }
        switch outcome {
        case .cleared(let decision, let hold):
            return (decision.map(headers) ?? [:], hold)
        case .loop(let seen):
            guard let policy, let loop = plan.loop else { throw Refusal(error: .dependencyUnavailable("redis"), rule: "loop_detection") }
            throw Self.forbid(PolicyViolation(
                rule: "loop_detection", code: "loop_detected",
                message: "The same request was sent \(seen) times within \(loop.windowSeconds) s in this run; policy \(policy.reference) allows \(loop.maxRepeats).",
                recovery: "Change the request (the agent may be stuck in a loop), or wait \(loop.windowSeconds) s."), policy: policy)
        case .rateLimited(let decision):
            let limit = admission.described[decision.index]
            var error = RungateError(
                .tooManyRequests, code: "rate_limited",
                message: "The limit of \(limit.ceiling) \(limit.what) set by policy \(policy?.reference ?? "of this run") is reached.",
                recovery: "Retry after \(decision.resetSeconds) s (Retry-After).",
                rule: RuleMatch(rule: limit.rule, policy: policy?.name, policyVersion: policy?.version),
                details: ["limit": .number(Double(limit.ceiling)), "reset_seconds": .number(Double(decision.resetSeconds))],
                headers: headers(decision))
            error.headers[.retryAfter] = String(decision.resetSeconds)
            throw Refusal(error: error, rule: limit.rule)
        case .overBudget(let refusal):
            throw Refusal(error: refusal.error, rule: "budget.\(refusal.budget.scope)")
        }
    }

    private static func forbid(_ violation: PolicyViolation, policy: ActivePolicy) -> Refusal {
        Refusal(error: RungateError(.forbidden, code: violation.code, message: violation.message, recovery: violation.recovery,
                                    rule: RuleMatch(rule: violation.rule, policy: policy.name, policyVersion: policy.version)),
                rule: violation.rule)
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
    /// sorted: the same question asked again hashes the same. (The first 16 bytes of its SHA-256,
    /// in hex: a loop counter's key.)
    static func normalisedFingerprint(_ json: JSONValue) -> String {
        guard case .object(let members) = json else { return "" }
        var text: [UInt8] = []
        text.reserveCapacity(256)
        JSONSerializer.write(members: members, omitting: variesBetweenAttempts, into: &text)
        return SHA256.hash(data: text).hexString(firstBytes: 16)
    }

    /// A top-level member that two attempts at the same request may set differently.
    private static func variesBetweenAttempts(_ member: String) -> Bool {
        switch member {
        case "stream", "stream_options", "user", "metadata", "n": true
        default: false
        }
    }
}

extension HTTPField.Name {
    static let xRateLimitLimit = HTTPField.Name("x-ratelimit-limit")!
    static let xRateLimitRemaining = HTTPField.Name("x-ratelimit-remaining")!
    static let xRateLimitReset = HTTPField.Name("x-ratelimit-reset")!
}
