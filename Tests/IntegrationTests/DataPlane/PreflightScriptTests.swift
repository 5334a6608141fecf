import Common
@testable import DataPlane
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import TestSupport
import Testing

/// The preflight and settle scripts against a real Redis (and the durable spend against a real
/// database): what each outcome charges, what a refusal leaves untouched, how holds are released.
@Suite struct PreflightScriptTests {
    /// One org's keys, a day budget and the pieces a preflight needs.
    struct Fixture: PreflightPlanning, Sendable {
        let redis: RedisClient
        let database: Database
        let preflight: Preflight
        let budgets: BudgetGuard
        let spend: BudgetSpendRecorder
        let orgID = UUID()
        let budgetRow: BudgetGuard.BudgetRow

        init(redis: RedisClient, database: Database, cap: Int64 = 1_000) {
            self.redis = redis
            self.database = database
            budgets = BudgetGuard(database: database, redis: redis, logger: TestServers.logger)
            spend = BudgetSpendRecorder(database: database, logger: TestServers.logger)
            preflight = Preflight(redis: redis, counters: GovernanceCounters(redis: redis), budgets: budgets, spend: spend)
            budgetRow = Self.dayBudget(cap: cap, orgID: orgID)
        }

        func integer(_ arguments: String...) async throws -> Int? { try await redis.send(arguments.map { Array($0.utf8) }).int }
        func counter() async throws -> (spent: Int?, reserved: Int?) {
            let fields = try await redis.send("HMGET", budget.key, "spent", "reserved").array ?? []
            return (fields.first?.string.flatMap { Int($0) }, fields.dropFirst().first?.string.flatMap { Int($0) })
        }
        /// The holds of calls in flight, as `id:amount`: the counter's `hold:<id>` fields (`amount:lease end`).
        func holds() async throws -> [String] {
            let fields = try await redis.send("HGETALL", budget.key).array?.compactMap(\.string) ?? []
            return stride(from: 0, to: fields.count - 1, by: 2).compactMap { index -> String? in
                guard fields[index].hasPrefix(Preflight.holdFieldPrefix), let amount = fields[index + 1].split(separator: ":").first else { return nil }
                return "\(fields[index].dropFirst(Preflight.holdFieldPrefix.count)):\(amount)"
            }.sorted()
        }
        /// The holds set an earlier release kept beside the counter, and its members (soonest lease first).
        var legacyHolds: String { BudgetCounterKey.holds(of: budget.key) }
        func legacyMembers() async throws -> [String] {
            try await redis.send("ZRANGE", legacyHolds, "0", "-1").array?.compactMap(\.string) ?? []
        }
        func ttls() async throws -> (counter: Int?, legacyHolds: Int?) {
            (try await integer("TTL", budget.key), try await integer("TTL", legacyHolds))
        }
    }

    func withFixture(cap: Int64 = 1_000, _ body: @escaping @Sendable (Fixture) async throws -> Void) async throws {
        try await TestDatabase.with { database in
            try await withPostgresClient(url: try database.url(role: "rungate_data")) { client in
                try await withRedisClient { redis in
                    try await body(Fixture(redis: redis, database: Database(client: client, logger: TestServers.logger), cap: cap))
                }
            }
        }
    }

    @Test func aClearedCallChargesItsWindowsAndHoldsItsReserveUntilSettled() async throws {
        try await withFixture { f in
            let limit = f.limit("req", ceiling: 5)
            guard case .cleared(let decision?, let hold) = try await f.preflight.run(f.plan(limits: [limit], reserve: 300)) else {
                Issue.record("the call should clear"); return
            }
            #expect(decision.remaining == 4 && decision.resetSeconds > 0 && decision.resetSeconds <= 60)
            #expect(try await f.integer("GET", limit.key) == 1)
            #expect(try await f.integer("TTL", limit.key).map { $0 > 0 } == true, "a new window expires")
            #expect(try await f.counter() == (0, 300))
            #expect(try await f.holds() == ["\(hold.id.lowercasedString):300"])
            #expect(try await f.integer("TTL", f.budget.key).map { $0 > 0 } == true)
            #expect(try await f.integer("EXISTS", f.legacyHolds) == 0, "a hold is a field of its counter, not a key of its own")

            #expect(await f.budgets.settle(hold, actual: 120).isEmpty)
            #expect(try await f.counter() == (120, 0), "the actual cost is spent, the rest released")
            #expect(try await f.holds().isEmpty)
            #expect(await f.budgets.settle(hold, actual: 120).isEmpty)
            #expect(try await f.counter() == (240, 0), "a settle is not idempotent on spend, but never releases twice")
        }
    }

    @Test func aRateLimitRefusalChargesNoWindowAndReservesNothing() async throws {
        try await withFixture { f in
            let open = f.limit("open", ceiling: 10), full = f.limit("full", ceiling: 2)
            _ = try await f.integer("SET", full.key, "2")
            guard case .rateLimited(let decision) = try await f.preflight.run(f.plan(limits: [open, full], reserve: 50)) else {
                Issue.record("the full window should refuse"); return
            }
            #expect(decision.index == 1 && decision.remaining == 0)
            #expect(try await f.integer("GET", open.key) == 0, "the window charged before the refusal is refunded")
            #expect(try await f.integer("GET", full.key) == 2)
            #expect(try await f.counter().reserved == nil)
            #expect(try await f.holds().isEmpty)
        }
    }

    @Test func aWindowResetsWhenItsMinuteEndsNotWhenItsCounterExpires() async throws {
        try await withFixture { f in
            let limit = f.limit("req", ceiling: 1)
            _ = try await f.integer("SET", limit.key, "1", "EX", "3600")
            try await f.expectRefusalResetsAtTheMinutesEnd(f.preflight, f.plan(limits: [limit]))
        }
    }

    @Test func aBudgetRefusalRefundsTheRateWindowsAndHoldsNothing() async throws {
        try await withFixture(cap: 100) { f in
            let limit = f.limit("req", ceiling: 10)
            guard case .overBudget(let refusal) = try await f.preflight.run(f.plan(limits: [limit], reserve: 20, seed: 90)) else {
                Issue.record("90 spent + 20 reserved crosses 100"); return
            }
            #expect(refusal.spent == 90 && refusal.reserved == 0 && refusal.amount == 20)
            #expect(try await f.integer("GET", limit.key) == 0)
            #expect(try await f.counter() == (90, nil), "the counter starts from its seed, with nothing reserved")
            #expect(try await f.integer("TTL", f.budget.key).map { $0 > 0 } == true, "a counter created by a refused call still expires")
            #expect(try await f.holds().isEmpty)
        }
    }

    @Test func aHoldWhoseLeaseRanOutIsReleasedOnceAndItsLateSettleOnlySpends() async throws {
        try await withFixture { f in
            guard case .cleared(_, let dead) = try await f.preflight.run(f.plan(reserve: 400, lease: .zero)) else {
                Issue.record("the first call should clear"); return
            }
            try await Task.sleep(for: .milliseconds(5))
            guard case .cleared(_, let live) = try await f.preflight.run(f.plan(reserve: 100, seed: nil)) else {
                Issue.record("the second call should clear"); return
            }
            #expect(try await f.counter() == (0, 100), "the expired hold's 400 is released, the new 100 held")
            #expect(try await f.holds() == ["\(live.id.lowercasedString):100"])
            _ = await f.budgets.settle(dead, actual: 7)
            #expect(try await f.counter() == (7, 100), "the late settle spends but does not release again")
        }
    }

    @Test func aHoldIsReleasedWhenItsLeaseRunsOutEvenWhenLaterHoldsExpireSooner() async throws {
        try await withFixture { f in
            guard case .cleared = try await f.preflight.run(f.plan(reserve: 100)),
                  case .cleared = try await f.preflight.run(f.plan(reserve: 200, lease: .zero)) else {
                Issue.record("both calls should clear"); return
            }
            try await Task.sleep(for: .milliseconds(5))
            guard case .cleared(_, let third) = try await f.preflight.run(f.plan(reserve: 50)) else {
                Issue.record("the third call should clear"); return
            }
            #expect(try await f.counter() == (0, 150), "the hold whose lease ran out is released, the live ones kept")
            let holds = try await f.holds()
            #expect(holds.count == 2 && holds.contains("\(third.id.lowercasedString):50"))
        }
    }

    @Test func aCounterSettledToNothingKeepsItsExpiryAndNoHold() async throws {
        try await withFixture { f in
            guard case .cleared(_, let first) = try await f.preflight.run(f.plan(reserve: 100)),
                  case .cleared(_, let second) = try await f.preflight.run(f.plan(reserve: 50)) else {
                Issue.record("both calls should clear"); return
            }
            _ = await f.budgets.settle(first, actual: 10)
            #expect(try await f.holds() == ["\(second.id.lowercasedString):50"], "a settle releases its own hold only")
            _ = await f.budgets.settle(second, actual: 5)
            #expect(try await f.holds().isEmpty)
            #expect(try await f.counter() == (15, 0))
            #expect(try await f.ttls().counter.map { $0 > 0 } == true)
        }
    }

    @Test func aCounterIsGivenItsExpiryAgainOnlyWhenItsRenewalIsDue() async throws {
        try await withFixture { f in
            guard case .cleared = try await f.preflight.run(f.plan(reserve: 10)) else { Issue.record("the call should clear"); return }
            // An earlier release's holds set beside it lives as long as the counter.
            _ = try await f.integer("ZADD", f.legacyHolds, "+inf", Preflight.openHoldsMember)
            _ = try await f.integer("EXPIRE", f.budget.key, "100")
            _ = try await f.integer("EXPIRE", f.legacyHolds, "100")
            guard case .cleared = try await f.preflight.run(f.plan(reserve: 10)) else { Issue.record("the call should clear"); return }
            let kept = try await f.ttls()
            #expect(kept.counter.map { $0 <= 100 } == true && kept.legacyHolds.map { $0 <= 100 } == true, "not renewed before it is due")
            _ = try await f.integer("HSET", f.budget.key, "renew_at", "0")
            guard case .cleared = try await f.preflight.run(f.plan(reserve: 10)) else { Issue.record("the call should clear"); return }
            let renewed = try await f.ttls()
            #expect(renewed.counter.map { $0 > 100 } == true && renewed.legacyHolds.map { $0 > 100 } == true)
            #expect(try await f.counter() == (0, 30))
        }
    }

    @Test func aCounterWrittenWithoutSweepOrRenewalTimesIsSweptAndRenewed() async throws {
        try await withFixture { f in
            // As an earlier release left it: no sweep or renewal time, a hold whose lease ran out in a
            // set of its own, no expiry.
            _ = try await f.integer("HSET", f.budget.key, "spent", "10", "reserved", "400")
            _ = try await f.integer("ZADD", f.legacyHolds, "1", "\(UUID().lowercasedString):400")
            guard case .cleared(_, let hold) = try await f.preflight.run(f.plan(reserve: 100)) else {
                Issue.record("the call should clear"); return
            }
            #expect(try await f.counter() == (10, 100))
            #expect(try await f.holds() == ["\(hold.id.lowercasedString):100"])
            #expect(try await f.integer("EXISTS", f.legacyHolds) == 0, "its one hold released, the set is gone")
            #expect(try await f.ttls().counter.map { $0 > 0 } == true)
        }
    }

    @Test func holdsLeftWithoutTheirCounterAreDroppedWhenItIsSeededAgain() async throws {
        try await withFixture { f in
            _ = try await f.integer("ZADD", f.legacyHolds, "1", "\(UUID().lowercasedString):400")
            _ = try await f.integer("ZADD", f.legacyHolds, "99999999999999", "\(UUID().lowercasedString):300")
            guard case .cleared(_, let hold) = try await f.preflight.run(f.plan(reserve: 100, seed: 5)) else {
                Issue.record("the call should clear"); return
            }
            #expect(try await f.counter() == (5, 100), "the seed counts no hold of the counter Redis lost")
            #expect(try await f.holds() == ["\(hold.id.lowercasedString):100"])
            #expect(try await f.integer("EXISTS", f.legacyHolds) == 0, "no hold of the lost counter is released against this one")
        }
    }

    @Test func aCounterRedisLostIsSeededFromTheDurableSpendAndNotRecreatedBySettling() async throws {
        try await withFixture { f in
            let window = BudgetSpendRecorder.Window(orgID: f.orgID, budgetID: f.budgetRow.id, periodStart: f.budget.periodStart!)
            f.spend.add(15, to: window)  // settled, not yet written: part of the durable spend
            guard case .cleared(_, let hold) = try await f.preflight.run(f.plan(reserve: 10, seed: nil)) else {
                Issue.record("the call should clear"); return
            }
            #expect(try await f.counter() == (15, 10), "a missing counter starts from the durable spend")
            _ = try await f.integer("DEL", f.budget.key)
            _ = await f.budgets.settle(hold, actual: 5)
            #expect(try await f.integer("EXISTS", f.budget.key) == 0, "the next call seeds it again instead")
        }
    }

    @Test func aSweepReleasesExpiredHoldsInTheCounterAndInAnEarlierReleasesSet() async throws {
        try await withFixture { f in
            // Mid-upgrade: holds of this release (fields) and of an earlier one (set members), one of
            // each whose lease ran out, and the sweep due.
            let soon = Int64(Date().timeIntervalSince1970 * 1000) + 30_000
            let (expired, live, legacyExpired, legacyLive) = (UUID(), UUID(), UUID(), UUID())
            _ = try await f.integer("HSET", f.budget.key, "spent", "0", "reserved", "1000", "sweep_at", "0", "renew_at", "99999999999999",
                                    Preflight.holdFieldPrefix + expired.lowercasedString, "400:1",
                                    Preflight.holdFieldPrefix + live.lowercasedString, "100:99999999999999")
            _ = try await f.integer("ZADD", f.legacyHolds, "1", "\(legacyExpired.lowercasedString):300", "\(soon)", "\(legacyLive.lowercasedString):200",
                                    "+inf", Preflight.openHoldsMember)
            guard case .cleared(_, let hold) = try await f.preflight.run(f.plan(reserve: 50)) else {
                Issue.record("the call should clear"); return
            }
            #expect(try await f.counter() == (0, 350), "400 and 300 released; 100, 200 and the new 50 held")
            #expect(try await f.holds() == ["\(hold.id.lowercasedString):50", "\(live.lowercasedString):100"].sorted())
            #expect(try await f.legacyMembers() == ["\(legacyLive.lowercasedString):200", Preflight.openHoldsMember])
            #expect(try await f.redis.send("HGET", f.budget.key, "sweep_at").string == "\(soon)", "swept again when the soonest live lease ends")
            _ = await f.budgets.settle(hold, actual: 20)
            #expect(try await f.counter() == (20, 300))
            #expect(try await f.legacyMembers().count == 2, "a settle leaves an earlier release's holds to it")
        }
    }

    /// Three calls' holds on a budget of 100 (alert at 80).
    func threeHolds(_ f: Fixture) async throws -> [BudgetHold] {
        var holds: [BudgetHold] = []
        for _ in 0..<3 {
            guard case .cleared(_, let hold) = try await f.preflight.run(f.plan(reserve: 30)) else {
                Issue.record("each call should clear"); return []
            }
            holds.append(hold)
        }
        #expect(try await f.counter() == (0, 90))
        return holds
    }

    static func lines(_ crossings: [BudgetGuard.Crossing]) -> [String] {
        crossings.map { if case .threshold = $0 { "threshold" } else { "exceeded" } }
    }

    @Test func holdsSettledInOneScriptEachReleaseTheirOwnAndEachLineIsCrossedOnce() async throws {
        try await withFixture(cap: 100) { f in
            let holds = try await threeHolds(f)
            try #require(holds.count == 3)
            let crossed = await f.budgets.settle([
                .init(hold: holds[0], actual: 50), .init(hold: .none, actual: 0), .init(hold: holds[1], actual: 40), .init(hold: holds[2], actual: 20),
            ])
            #expect(crossed.map(Self.lines) == [[], [], ["threshold"], ["exceeded"]], "50, then 90 (past 80), then 110 (past 100)")
            #expect(try await f.counter() == (110, 0))
            #expect(try await f.holds().isEmpty)
            let again = await f.budgets.settle([.init(hold: holds[0], actual: 1), .init(hold: holds[1], actual: 1)])
            #expect(again.map(Self.lines) == [[], []], "each line is announced once per window")
            #expect(try await f.counter() == (112, 0), "settled again: spent, nothing released twice")
        }
    }

    @Test func queuedSettlementsAreSettledTogetherAnnouncedAndDrainedAtShutdown() async throws {
        try await withFixture(cap: 100) { f in
            let steps = try StepRecorder(repository: PostgresStepRepository(database: f.database), logger: TestServers.logger, interval: .seconds(3600))
            let settlements = BudgetSettlements(budgets: f.budgets, steps: steps)
            let group = ServiceGroup(configuration: .init(services: [settlements], logger: TestServers.logger))
            let running = Task { try await group.run() }
            let holds = try await threeHolds(f)
            guard case .cleared(_, let last) = try await f.preflight.run(f.plan(reserve: 5)) else { Issue.record("the call should clear"); return }
            for (hold, actual) in zip(holds, [50, 40, 20] as [Int64]) {
                settlements.add(.init(settlement: .init(hold: hold, actual: actual), orgID: f.orgID, runID: UUID()))
            }
            #expect(try await eventually { try await f.counter() == (110, 5) }, "every queued hold is settled")
            // Announced once the script's answer is back (Redis shows the counter a moment before).
            #expect(try await eventually { steps.pending == 2 }, "budget.threshold and budget.exceeded are queued for the outbox")

            settlements.add(.init(settlement: .init(hold: last, actual: 5), orgID: f.orgID, runID: UUID()))
            await group.triggerGracefulShutdown()
            try await running.value
            #expect(try await f.counter() == (115, 0), "a hold queued as the process stops is settled before it does")
            #expect(steps.pending == 2)
        }
    }

    @Test func theLoopCounterStartsItsWindowAndRefusesPastItsMaximum() async throws {
        try await withFixture { f in
            var plan = f.plan(budget: false)
            let key = GovernanceCounters.key(org: f.orgID, "loop", .id(UUID()))
            plan.loop = (key, 30, 2)
            for _ in 0..<2 {
                guard case .cleared = try await f.preflight.run(plan) else { Issue.record("two repeats are allowed"); return }
            }
            #expect(try await f.integer("TTL", key).map { $0 > 0 && $0 <= 30 } == true)
            guard case .loop(let seen) = try await f.preflight.run(plan) else { Issue.record("the third repeat is a loop"); return }
            #expect(seen == 3)
        }
    }
}
