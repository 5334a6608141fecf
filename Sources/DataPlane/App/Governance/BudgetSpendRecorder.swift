import Common
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps `budget_spend` (the durable record of day and month windows) without a write per call:
/// settled costs are summed in memory per budget and window and written every `interval` in one
/// statement. Redis holds the live counters enforcement reads; this is the record that outlives it.
/// A failed write keeps the sums for the next round; shutdown writes what is left.
final class BudgetSpendRecorder: Service, Sendable {
    struct Window: Hashable, Sendable {
        let orgID: UUID
        let budgetID: UUID
        let periodStart: Date
    }

    private let database: Database
    private let logger: Logger
    private let interval: Duration
    private let pending = Mutex<[Window: Int64]>([:])
    /// The batch being written: still counted by `unwritten(for:)` until it is committed.
    private let inFlight = Mutex<[Window: Int64]>([:])

    init(database: Database, logger: Logger, interval: Duration = .seconds(1)) {
        self.database = database
        self.logger = logger
        self.interval = interval
    }

    func add(_ micros: Int64, to window: Window) {
        guard micros > 0 else { return }
        pending.withLock { $0[window, default: 0] += micros }
    }

    /// Spend settled in this process but not yet in `budget_spend`.
    func unwritten(for window: Window) -> Int64 {
        pending.withLock { $0[window] ?? 0 } + inFlight.withLock { $0[window] ?? 0 }
    }

    func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await sleepUnlessShuttingDown(for: interval)
            await flush()
        }
        await flush()
    }

    func flush() async {
        let batch = pending.withLock { pending -> [Window: Int64] in
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard !batch.isEmpty else { return }
        inFlight.withLock { $0 = batch }
        defer { inFlight.withLock { $0.removeAll() } }
        let windows = Array(batch.keys)
        do {
            try await database.client.query(
                """
                INSERT INTO budget_spend (org_id, budget_id, period_start, spent_micros)
                SELECT * FROM unnest(\(windows.map(\.orgID)), \(windows.map(\.budgetID)), \(windows.map(\.periodStart)), \(windows.map { batch[$0]! }))
                ON CONFLICT (budget_id, period_start) DO UPDATE SET spent_micros = budget_spend.spent_micros + EXCLUDED.spent_micros, updated_at = now()
                """, logger: logger)
        } catch {
            pending.withLock { pending in
                for (window, micros) in batch { pending[window, default: 0] += micros }
            }
            logger.error("recording budget spend failed; will retry", metadata: ["windows": "\(batch.count)", "error": "\(String(reflecting: error))"])
        }
    }
}
