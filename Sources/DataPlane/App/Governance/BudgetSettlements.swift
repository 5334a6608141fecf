import Common
import Foundation
import ServiceLifecycle
import Synchronization

/// Settles calls' budget holds off the request path, many in one Redis script: the holds that
/// close while a settle is in flight go together in the next, one script per org (its keys share
/// the org's hash tag) and at most `maxHoldsPerScript` holds (Redis runs nothing else meanwhile).
/// A call alone is settled at once; under load a script settles several, and what a script costs
/// besides its commands (Redis: its arguments into Lua, the call, the reply; the data plane: a task,
/// the command built and sent, the reply read) is paid once for them. The
/// lines a settle crosses are announced as `budget.threshold` / `budget.exceeded` events. Shutdown
/// (after the HTTP server's, which lets calls in flight close) settles what is left.
final class BudgetSettlements: Service, Sendable {
    struct Entry: Sendable {
        let settlement: BudgetGuard.Settlement
        let orgID: UUID
        let runID: UUID
    }

    private struct State {
        var entries: [Entry] = []
        /// A settler task runs and has not yet found the queue empty: a new entry need not start one.
        var settling = false
    }

    static let maxHoldsPerScript = 32
    /// How long shutdown waits for the settle under way (Redis may not answer).
    static let drainLimit = Duration.seconds(15)
    private let budgets: BudgetGuard
    private let steps: StepRecorder
    private let state = Mutex(State())

    init(budgets: BudgetGuard, steps: StepRecorder) {
        self.budgets = budgets
        self.steps = steps
    }

    /// Queues a hold; a task settles it (and whatever is queued meanwhile) unless one already runs.
    func add(_ entry: Entry) {
        let start = state.withLock { state in
            state.entries.append(entry)
            defer { state.settling = true }
            return !state.settling
        }
        if start { Task { await self.settlePending() } }
    }

    /// Waits for shutdown (which comes after the HTTP server's: calls in flight have closed), then
    /// for the settle under way, and settles what is left.
    func run() async throws {
        try? await gracefulShutdown()
        let deadline = ContinuousClock.now + Self.drainLimit
        while state.withLock({ $0.settling }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        await settlePending()
    }

    /// Settles until the queue is empty (what arrives meanwhile included).
    func settlePending() async {
        while true {
            let entries = state.withLock { state in
                if state.entries.isEmpty { state.settling = false }
                defer { state.entries.removeAll(keepingCapacity: true) }
                return state.entries
            }
            if entries.isEmpty { return }
            for (orgID, holds) in Dictionary(grouping: entries, by: \.orgID) {
                var start = holds.startIndex
                while start < holds.endIndex {
                    let batch = holds[start..<min(start + Self.maxHoldsPerScript, holds.endIndex)]
                    let crossings = await budgets.settle(batch.map(\.settlement))
                    for (entry, crossed) in zip(batch, crossings) { announce(crossed, orgID: orgID, runID: entry.runID) }
                    start = batch.endIndex
                }
            }
        }
    }

    private func announce(_ crossings: [BudgetGuard.Crossing], orgID: UUID, runID: UUID) {
        for crossing in crossings {
            let (type, budget) = switch crossing {
            case .threshold(let budget): (EventType.budgetThreshold, budget)
            case .exceeded(let budget): (EventType.budgetExceeded, budget)
            }
            steps.emit(OutboxEvent(orgID: orgID, type: type, payload: [
                "budget_id": .string(budget.id.lowercasedString), "scope": .string(budget.scope),
                "period": .string(budget.period.rawValue), "cap_micros": .number(Double(budget.capMicros)),
                "alert_threshold_percent": .number(Double(budget.alertThresholdPercent)), "run_id": .string(runID.lowercasedString),
            ]))
        }
    }
}
