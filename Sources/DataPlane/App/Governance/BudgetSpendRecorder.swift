import Common
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps `budget_spend` (the durable record of day and month windows) without a write per call:
/// settled costs are summed in memory per budget and window and written every `interval` in one
/// statement. Redis holds the live counters enforcement reads; this is the record that outlives it.
/// A batch carries an id written with it in the same statement, so a write that outlived its deadline
/// (a connection dropped by an outage) can be sent again without counting twice; it is sent again
/// until it is confirmed, before anything newer. Shutdown writes what is left, for at most
/// `drainLimit` (PostgreSQL away: what is not written is lost with the process, and said so).
final class BudgetSpendRecorder: Service, Sendable {
    struct Window: Hashable, Sendable {
        let orgID: UUID
        let budgetID: UUID
        let periodStart: Date
    }

    struct Batch: Sendable {
        let id = UUID.random()
        let sums: [Window: Int64]
    }

    private let database: Database
    private let logger: Logger
    private let interval: Duration
    private let writeDeadline: Duration
    private let drainLimit: Duration
    private let pending = Mutex<[Window: Int64]>([:])
    /// The batch being written, until it is confirmed: still counted by `unwritten(for:)`.
    private let inFlight = Mutex<Batch?>(nil)

    init(database: Database, logger: Logger, interval: Duration = .seconds(1), writeDeadline: Duration = .seconds(10),
         drainLimit: Duration = .seconds(10)) {
        self.database = database
        self.logger = logger
        self.interval = interval
        self.writeDeadline = writeDeadline
        self.drainLimit = drainLimit
    }

    func add(_ micros: Int64, to window: Window) {
        guard micros > 0 else { return }
        pending.withLock { $0[window, default: 0] += micros }
    }

    /// Spend settled in this process but not yet in `budget_spend`.
    func unwritten(for window: Window) -> Int64 {
        pending.withLock { $0[window] ?? 0 } + inFlight.withLock { $0?.sums[window] ?? 0 }
    }

    func run() async throws {
        var lastPruned = ContinuousClock.now
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await sleepUnlessShuttingDown(for: interval)
            if Task.isShuttingDownGracefully { break }  // the drain writes it, within its limit
            await flush()
            if ContinuousClock.now - lastPruned > .seconds(600) {
                lastPruned = ContinuousClock.now
                await pruneBatchMarkers()
            }
        }
        // Drain: the unconfirmed batch, then what is pending — five attempts, each write given at most
        // what is left of the limit (five full deadlines kept a process whose database had gone for a
        // minute, past an orchestrator's grace period).
        let ends = ContinuousClock.now + drainLimit
        for attempt in 0..<5 where ContinuousClock.now < ends {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(100)) }
            if await flush(deadline: min(writeDeadline, ends - ContinuousClock.now)) { return }
        }
        let windows = inFlight.withLock { $0?.sums.count ?? 0 } + pending.withLock { $0.count }
        if windows > 0 {
            logger.error("budget spend not written before shutdown (PostgreSQL did not answer): budget_spend misses it",
                         metadata: ["windows": "\(windows)"])
        }
    }

    /// Writes the unconfirmed batch, or else what is pending; true when nothing is left to send.
    /// `deadline`: how long the write may take (default `writeDeadline`).
    @discardableResult
    func flush(deadline: Duration? = nil) async -> Bool {
        let batch: Batch
        if let unconfirmed = inFlight.withLock({ $0 }) {
            batch = unconfirmed
        } else {
            let sums = pending.withLock { pending -> [Window: Int64] in
                defer { pending.removeAll(keepingCapacity: true) }
                return pending
            }
            guard !sums.isEmpty else { return true }
            batch = Batch(sums: sums)
            inFlight.withLock { $0 = batch }
        }
        do {
            try await write(batch, deadline: deadline)
            inFlight.withLock { $0 = nil }
            return pending.withLock { $0.isEmpty }
        } catch {
            logger.error("recording budget spend failed; will retry", metadata: ["windows": "\(batch.sums.count)", "error": "\(String(reflecting: error))"])
            return false
        }
    }

    /// Adds a batch's sums to `budget_spend`, once however often the same batch is written.
    func write(_ batch: Batch, deadline: Duration? = nil) async throws {
        let windows = Array(batch.sums.keys)
        let (database, logger) = (self.database, self.logger)
        _ = try await withDeadline(deadline ?? writeDeadline) {
            try await database.client.query(
                """
                WITH batch AS (
                    INSERT INTO budget_spend_batches (id) VALUES (\(batch.id)) ON CONFLICT (id) DO NOTHING RETURNING id
                )
                INSERT INTO budget_spend (org_id, budget_id, period_start, spent_micros)
                SELECT w.org_id, w.budget_id, w.period_start, w.spent_micros
                FROM unnest(\(windows.map(\.orgID)), \(windows.map(\.budgetID)), \(windows.map(\.periodStart)), \(windows.map { batch.sums[$0]! }))
                    AS w(org_id, budget_id, period_start, spent_micros)
                WHERE EXISTS (SELECT 1 FROM batch)
                ON CONFLICT (budget_id, period_start) DO UPDATE SET spent_micros = budget_spend.spent_micros + EXCLUDED.spent_micros, updated_at = now()
                """, logger: logger)
        }
    }

    /// Markers older than a day: no batch is retried for that long.
    private func pruneBatchMarkers() async {
        let (database, logger) = (self.database, self.logger)
        do {
            _ = try await withDeadline(writeDeadline) {
                try await database.client.query("DELETE FROM budget_spend_batches WHERE written_at < now() - interval '1 day'", logger: logger)
            }
        } catch {
            logger.warning("pruning budget spend batch markers failed; will retry", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
