import Common
import Foundation

/// Records what governance decides off the request path: events for the webhook outbox
/// (`budget.threshold`, `budget.exceeded`, `policy.drift`; blocks carry theirs on their step),
/// written with the step batches, and the durable spend of budgets.
struct GovernanceRecorder: Sendable {
    let steps: StepRecorder
    let spend: BudgetSpendRecorder
    let settlements: BudgetSettlements

    func emit(orgID: UUID, type: EventType, _ payload: JSONValue) {
        steps.emit(OutboxEvent(orgID: orgID, type: type, payload: payload))
    }

    /// Settles a call's budget hold with its actual cost, records the spend, and announces the lines
    /// it crossed (`BudgetSettlements`).
    func settle(_ hold: BudgetHold, actual: Int64, orgID: UUID, runID: UUID) {
        guard !hold.budgets.isEmpty else { return }
        // Run-period budgets are durable as the run's own cost; day and month windows are summed here.
        for budget in hold.budgets {
            if let start = budget.periodStart { spend.add(actual, to: .init(orgID: orgID, budgetID: budget.id, periodStart: start)) }
        }
        settlements.add(.init(settlement: .init(hold: hold, actual: actual), orgID: orgID, runID: runID))
    }
}
