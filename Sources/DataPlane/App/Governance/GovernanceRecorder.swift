import Common
import Foundation

/// Records what governance decides off the request path: events for the webhook outbox
/// (`budget.threshold`, `budget.exceeded`, `policy.drift`; blocks carry theirs on their step),
/// written with the step batches, and the durable spend of budgets.
struct GovernanceRecorder: Sendable {
    let steps: StepRecorder
    let budgets: BudgetGuard
    let spend: BudgetSpendRecorder

    func emit(orgID: UUID, type: EventType, _ payload: JSONValue) {
        steps.emit(OutboxEvent(orgID: orgID, type: type, payload: payload))
    }

    /// Settles a call's budget hold with its actual cost, records the spend, and announces the lines it crossed.
    func settle(_ hold: BudgetHold, actual: Int64, orgID: UUID, runID: UUID) {
        guard !hold.budgets.isEmpty else { return }
        let budgets = self.budgets
        // Run-period budgets are durable as the run's own cost; day and month windows are summed here.
        for budget in hold.budgets {
            if let start = budget.periodStart { spend.add(actual, to: .init(orgID: orgID, budgetID: budget.id, periodStart: start)) }
        }
        Task {
            for crossing in await budgets.settle(hold, actual: actual) {
                let (type, budget) = switch crossing {
                case .threshold(let budget): (EventType.budgetThreshold, budget)
                case .exceeded(let budget): (EventType.budgetExceeded, budget)
                }
                emit(orgID: orgID, type: type, [
                    "budget_id": .string(budget.id.lowercasedString), "scope": .string(budget.scope),
                    "period": .string(budget.period.rawValue), "cap_micros": .number(Double(budget.capMicros)),
                    "alert_threshold_percent": .number(Double(budget.alertThresholdPercent)), "run_id": .string(runID.lowercasedString),
                ])
            }
        }
    }
}
