import Common
@testable import DataPlane
import Foundation
import Synchronization
import TestSupport
import Testing

/// The single-node path (no Redis configured: DESIGN's in-process counters), told apart by what the
/// calls that follow see: the same outcomes as the preflight and settle scripts
/// (`PreflightScriptTests`) — what a cleared call holds and spends, what a refusal leaves
/// uncharged, how an expired hold is released, when a budget's alerts fire — and, as Redis expires
/// its keys, when a budget's counter lapses and is dropped.
@Suite struct InProcessPreflightTests {
    struct Fixture: PreflightPlanning, Sendable {
        let preflight: Preflight
        let budgets: BudgetGuard
        let spend: BudgetSpendRecorder
        let clock = ManualClock()
        let orgID = UUID()
        let budgetRow: BudgetGuard.BudgetRow

        init(database: Database, cap: Int64, sweepThreshold: Int) {
            budgets = BudgetGuard(database: database, redis: nil, logger: TestServers.logger, localSweepThreshold: sweepThreshold,
                                  clock: { [clock] in clock.now() })
            spend = BudgetSpendRecorder(database: database, logger: TestServers.logger)
            preflight = Preflight(redis: nil, counters: GovernanceCounters(redis: nil), budgets: budgets, spend: spend)
            budgetRow = Self.dayBudget(cap: cap, orgID: orgID)
        }

        /// The budget's spent and reserved amounts, as a call too large for any cap is refused with them.
        func counter() async throws -> (spent: Int64, reserved: Int64)? {
            guard case .overBudget(let refusal) = try await preflight.run(plan(reserve: .max / 2, seed: nil)) else { return nil }
            return (refusal.spent, refusal.reserved)
        }
    }

    func withFixture(cap: Int64 = 1_000, sweepThreshold: Int = 200_000, _ body: @escaping @Sendable (Fixture) async throws -> Void) async throws {
        try await TestDatabase.with { database in
            try await withPostgresClient(url: try database.url(role: "rungate_data")) { client in
                try await body(Fixture(database: Database(client: client, logger: TestServers.logger), cap: cap, sweepThreshold: sweepThreshold))
            }
        }
    }

    @Test func aClearedCallChargesItsWindowAndHoldsItsReserveUntilSettled() async throws {
        try await withFixture { f in
            let limit = f.limit("req", ceiling: 5)
            guard case .cleared(let decision?, let hold) = try await f.preflight.run(f.plan(limits: [limit], reserve: 300)) else {
                Issue.record("the call should clear"); return
            }
            #expect(decision.remaining == 4 && decision.resetSeconds > 0 && decision.resetSeconds <= 60)
            #expect(try await f.counter()! == (0, 300))
            #expect(await f.budgets.settle(hold, actual: 120).isEmpty)
            #expect(try await f.counter()! == (120, 0), "the actual cost is spent, the rest released")
            #expect(await f.budgets.settle(hold, actual: 120).isEmpty)
            #expect(try await f.counter()! == (240, 0), "a settle is not idempotent on spend, but never releases twice")
        }
    }

    @Test func aWindowResetsWhenItsMinuteEndsNotWhenItsCounterExpires() async throws {
        try await withFixture { f in
            let limit = f.limit("req", ceiling: 1)
            _ = try await f.preflight.counters.add(limit.key, window: 3600)
            try await f.expectRefusalResetsAtTheMinutesEnd(f.preflight, f.plan(limits: [limit]))
        }
    }

    @Test func aBudgetRefusalRefundsTheRateWindowAndHoldsNothing() async throws {
        try await withFixture(cap: 100) { f in
            let limit = f.limit("req", ceiling: 10)
            guard case .overBudget(let refusal) = try await f.preflight.run(f.plan(limits: [limit], reserve: 20, seed: 90)) else {
                Issue.record("90 spent + 20 reserved crosses 100"); return
            }
            #expect(refusal.spent == 90 && refusal.reserved == 0 && refusal.amount == 20)
            guard case .cleared(let decision?, _) = try await f.preflight.run(f.plan(limits: [limit], budget: false)) else {
                Issue.record("the window has room"); return
            }
            #expect(decision.remaining == 9, "the refused call's charge was refunded")
            #expect(try await f.counter()! == (90, 0))
        }
    }

    @Test func aRateLimitRefusalReservesNothing() async throws {
        try await withFixture { f in
            let limit = f.limit("req", ceiling: 1)
            guard case .cleared = try await f.preflight.run(f.plan(limits: [limit], reserve: 10)) else {
                Issue.record("the first call should clear"); return
            }
            guard case .rateLimited(let decision) = try await f.preflight.run(f.plan(limits: [limit], reserve: 500)) else {
                Issue.record("the window is full"); return
            }
            #expect(decision.remaining == 0)
            #expect(try await f.counter()! == (0, 10), "only the first call's reserve is held")
        }
    }

    @Test func aHoldWhoseLeaseRanOutIsReleasedOnceAndItsLateSettleOnlySpends() async throws {
        try await withFixture { f in
            guard case .cleared(_, let dead) = try await f.preflight.run(f.plan(reserve: 400, lease: .zero)) else {
                Issue.record("the first call should clear"); return
            }
            f.clock.advance(by: .milliseconds(5))
            guard case .cleared = try await f.preflight.run(f.plan(reserve: 100)) else {
                Issue.record("the second call should clear"); return
            }
            #expect(try await f.counter()! == (0, 100), "the expired hold's 400 is released, the new 100 held")
            _ = await f.budgets.settle(dead, actual: 7)
            #expect(try await f.counter()! == (7, 100), "the late settle spends but does not release again")
        }
    }

    @Test func theAlertThresholdAndTheCapAreAnnouncedOnceEach() async throws {
        try await withFixture(cap: 100) { f in
            func spend(_ actual: Int64) async throws -> [BudgetGuard.Crossing] {
                guard case .cleared(_, let hold) = try await f.preflight.run(f.plan(reserve: 1)) else { return [] }
                return await f.budgets.settle(hold, actual: actual)
            }
            #expect(try await spend(50).isEmpty)
            let threshold = try await spend(35)  // 85 of 100: past 80 %
            #expect(threshold.count == 1 && { if case .threshold = threshold[0] { true } else { false } }())
            #expect(try await spend(5).isEmpty, "the threshold is announced once")
            let exceeded = try await spend(20)  // 110
            #expect(exceeded.count == 1 && { if case .exceeded = exceeded[0] { true } else { false } }())
            #expect(try await f.counter()! == (110, 0))
        }
    }

    @Test func theCountersOfRunsThatEndedAreDroppedOnceTheyLapse() async throws {
        try await withFixture(sweepThreshold: 4) { f in
            let runBudget = BudgetGuard.BudgetRow(orgID: f.orgID, id: UUID(), scope: "run", scopeID: nil, period: .run, capMicros: 1_000, alertThresholdPercent: 80)
            func call() async throws {
                var plan = f.plan(budget: false, reserve: 10)
                let runID = UUID()
                plan.budgets = [ApplicableBudget(budget: runBudget, key: BudgetCounterKey.key(orgID: f.orgID, budgetID: runBudget.id, periodStart: nil, runID: runID),
                                                 periodStart: nil, resetsAt: nil)]
                plan.seeds = [0]
                plan.runID = runID
                guard case .cleared(_, let hold) = try await f.preflight.run(plan) else { Issue.record("the call should clear"); return }
                _ = await f.budgets.settle(hold, actual: 5)
            }
            for _ in 0..<4 { try await call() }
            #expect(f.budgets.localCount == 4, "one counter per run")
            f.clock.advance(by: .seconds(25 * 3600 - 60))
            try await call()  // the table reached 4: swept, but nothing has lapsed
            #expect(f.budgets.localCount == 5, "a run budget's counter lives a day and an hour after its last call, as in Redis")
            f.clock.advance(by: .seconds(120))
            for _ in 0..<3 { try await call() }  // no sweep until the table doubles to 8
            #expect(f.budgets.localCount == 8)
            try await call()
            #expect(f.budgets.localCount == 5, "the first four runs' counters lapsed and are swept; the last five stay")
        }
    }

    @Test func aLapsedCounterIsNotRecreatedByALateSettleAndTheNextCallSeedsItFromTheDurableSpend() async throws {
        try await withFixture { f in
            guard case .cleared(_, let hold) = try await f.preflight.run(f.plan(reserve: 100)) else {
                Issue.record("the call should clear"); return
            }
            #expect(try await f.counter()! == (0, 100))
            f.clock.advance(by: .seconds(2 * 86_400))  // past the day window's end plus an hour
            #expect(await f.budgets.settle(hold, actual: 30).isEmpty)
            // What the durable spend holds by now (this call's cost among it), written or not.
            f.spend.add(70, to: .init(orgID: f.orgID, budgetID: f.budgetRow.id, periodStart: f.budget.periodStart!))
            #expect(try await f.counter()! == (70, 0), "seeded afresh: the lapsed 100 reserve is gone, the settle's 30 not counted twice")
        }
    }
}
