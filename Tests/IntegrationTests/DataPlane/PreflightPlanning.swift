import Common
@testable import DataPlane
import Foundation
import Testing

/// One org's day budget and rate-limit windows, and the preflight plans of calls against them:
/// shared by the scripts' tests (Redis) and the in-process path's tests.
protocol PreflightPlanning {
    var orgID: UUID { get }
    var budgetRow: BudgetGuard.BudgetRow { get }
}

extension PreflightPlanning {
    static func dayBudget(cap: Int64, orgID: UUID) -> BudgetGuard.BudgetRow {
        .init(orgID: orgID, id: UUID(), scope: "org", scopeID: nil, period: .day, capMicros: cap, alertThresholdPercent: 80)
    }

    var budget: ApplicableBudget {
        let now = Date()
        let start = BudgetPeriod.day.start(of: now)
        return ApplicableBudget(budget: budgetRow, key: BudgetCounterKey.key(orgID: orgID, budgetID: budgetRow.id, periodStart: start),
                                periodStart: start, resetsAt: BudgetPeriod.day.end(of: now))
    }

    func limit(_ name: String, ceiling: Int, cost: Int = 1) -> GovernanceCounters.Limit {
        .init(key: GovernanceCounters.key(org: orgID, "rl", .text(name)), ceiling: ceiling, cost: cost)
    }

    /// Runs `plan` with its rate-limit windows counting the current minute and checks that a refusal
    /// gives the seconds left in that minute as its reset — whatever the window's counter's expiry.
    func expectRefusalResetsAtTheMinutesEnd(_ preflight: Preflight, _ plan: Preflight.Plan, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        var plan = plan
        let before = Date()
        plan.rateWindowMinute = Int(before.timeIntervalSince1970) / Preflight.rateWindowSeconds
        let outcome = try await preflight.run(plan)
        let end = (plan.rateWindowMinute + 1) * Preflight.rateWindowSeconds
        guard case .rateLimited(let decision) = outcome else {
            Issue.record("the full window should refuse", sourceLocation: sourceLocation); return
        }
        let expected = max(end - Int(Date().timeIntervalSince1970), 1)...max(end - Int(before.timeIntervalSince1970), 1)
        #expect(expected.contains(decision.resetSeconds), "reset \(decision.resetSeconds) s, the minute ends in \(expected)", sourceLocation: sourceLocation)
    }

    /// A call's plan; `seed` nil makes a call without a counter read the durable spend.
    func plan(limits: [GovernanceCounters.Limit] = [], budget: Bool = true, reserve: Int64 = 0, seed: Int64? = 0,
              lease: Duration = .seconds(600)) -> Preflight.Plan {
        var plan = Preflight.Plan()
        plan.limits = limits
        plan.orgID = orgID
        if budget {
            plan.budgets = [self.budget]
            plan.seeds = [seed]
        }
        plan.reserve = reserve
        plan.lease = lease
        return plan
    }
}
