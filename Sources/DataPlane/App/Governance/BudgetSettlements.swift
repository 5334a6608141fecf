import Common
import Foundation
import ServiceLifecycle
import Synchronization

/// Settles calls' budget holds off the request path, many in one Redis script: the holds that
/// close while a settle is in flight go together in the next, one script per org (its keys share
/// the org's hash tag) and at most `maxHoldsPerScript` holds (Redis runs nothing else meanwhile).
/// A call alone is settled at once; under load a script settles several, and Redis's fixed cost of
/// a script (~50 K instructions) and the data plane's of a round trip are paid once for them. The
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
        /// The settler was woken and has not yet found the queue empty: a new entry need not wake it.
        var awake = false
    }

    static let maxHoldsPerScript = 32
    private let budgets: BudgetGuard
    private let steps: StepRecorder
    private let state = Mutex(State())
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(budgets: BudgetGuard, steps: StepRecorder) {
        self.budgets = budgets
        self.steps = steps
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func add(_ entry: Entry) {
        let wakeUp = state.withLock { state in
            state.entries.append(entry)
            defer { state.awake = true }
            return !state.awake
        }
        if wakeUp { wake.yield() }
    }

    func run() async throws {
        for await _ in wakeups.cancelOnGracefulShutdown() {
            await settlePending()
        }
        await settlePending()
    }

    /// Settles until the queue is empty (what arrives meanwhile included).
    func settlePending() async {
        while true {
            let entries = state.withLock { state in
                if state.entries.isEmpty { state.awake = false }
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
