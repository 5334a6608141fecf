import Common
import Foundation
import Logging
import PostgresNIO

/// Writes what governance decides off the request path: events into the webhook outbox
/// (`policy.violation`, `budget.threshold`, `budget.exceeded`) and the durable spend of budgets.
struct GovernanceRecorder: Sendable {
    let database: Database
    let budgets: BudgetGuard
    let spend: BudgetSpendRecorder
    let logger: Logger

    func emit(orgID: UUID, type: EventType, _ payload: JSONValue) {
        let database = self.database, logger = self.logger
        Task {
            do {
                try await database.client.query(
                    "INSERT INTO events (org_id, type, payload) VALUES (\(orgID), \(type.rawValue), \(payload.jsonb)::jsonb)", logger: logger)
            } catch {
                logger.error("writing an event failed", metadata: ["type": "\(type.rawValue)", "error": "\(String(reflecting: error))"])
            }
        }
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
                    "budget_id": .string(budget.id.uuidString.lowercased()), "scope": .string(budget.scope),
                    "period": .string(budget.period.rawValue), "cap_micros": .number(Double(budget.capMicros)),
                    "alert_threshold_percent": .number(Double(budget.alertThresholdPercent)), "run_id": .string(runID.uuidString.lowercased()),
                ])
            }
        }
    }
}
