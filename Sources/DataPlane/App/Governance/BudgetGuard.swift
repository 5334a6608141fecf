import Common
import Foundation
import HTTPTypes
import Logging
import PostgresNIO
import Synchronization

/// A budget that applies to a call, with the counter window it draws on.
struct ApplicableBudget: Sendable {
    let budget: BudgetGuard.BudgetRow
    let key: String
    let periodStart: Date?
    let resetsAt: Date?

    var id: UUID { budget.id }
    var scope: String { budget.scope }
    var scopeID: UUID? { budget.scopeID }
    var period: BudgetPeriod { budget.period }
    var capMicros: Int64 { budget.capMicros }
    var alertThresholdPercent: Int { budget.alertThresholdPercent }
}

/// The money a call has set aside: settled once with the actual cost, or released.
struct BudgetHold: Sendable {
    let budgets: [ApplicableBudget]
    let reserved: Int64
    /// The reservation's id in each budget's leases.
    var id = UUID.random()
    static let none = BudgetHold(budgets: [], reserved: 0)
}

/// Budgets: before forwarding, reserve the call's worst-case cost against every applicable cap
/// (org, team, agent, run; period run/day/month) in one atomic step; after the answer, settle the
/// actual cost and release the rest. Counters live in Redis (shared by every replica; all keys of a
/// call carry the org's hash tag) or, without Redis, in process. Budgets never fail open.
final class BudgetGuard: Sendable {
    private let database: Database
    private let redis: RedisClient?
    private let logger: Logger
    private let cache: ReadThroughCache<UUID, [BudgetRow]>
    private let local: Mutex<ExpiringTable<LocalCounter>>
    private let clock: @Sendable () -> ContinuousClock.Instant

    /// A budget counter without Redis: the same fields, the leases of the reservations it holds, and
    /// when it lapses (as its Redis twin's TTL would).
    struct LocalCounter: Expiring {
        var spent: Int64
        var reserved: Int64 = 0
        var alerted = 0
        var leases: [UUID: (amount: Int64, expires: ContinuousClock.Instant)] = [:]
        var expires: ContinuousClock.Instant

        /// Releases reservations whose lease ran out.
        mutating func expireLeases(now: ContinuousClock.Instant) {
            for (id, lease) in leases where lease.expires <= now {
                reserved -= lease.amount
                leases[id] = nil
            }
        }
    }

    struct BudgetRow: Sendable {
        let id: UUID
        let scope: String
        let scopeID: UUID?
        let period: BudgetPeriod
        let capMicros: Int64
        let alertThresholdPercent: Int
        /// Its counters' keys up to the window (`BudgetCounterKey.prefix`).
        let keyPrefix: String

        init(orgID: UUID, id: UUID, scope: String, scopeID: UUID?, period: BudgetPeriod, capMicros: Int64, alertThresholdPercent: Int) {
            self.id = id
            self.scope = scope
            self.scopeID = scopeID
            self.period = period
            self.capMicros = capMicros
            self.alertThresholdPercent = alertThresholdPercent
            self.keyPrefix = BudgetCounterKey.prefix(orgID: orgID, budgetID: id)
        }
    }

    /// `localSweepThreshold`: how many in-process counters (no Redis) may accumulate before lapsed
    /// ones are swept; `clock`: their time (tests move it on).
    init(database: Database, redis: RedisClient?, logger: Logger, localSweepThreshold: Int = 200_000,
         clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }) {
        self.local = Mutex(ExpiringTable(sweepThreshold: localSweepThreshold))
        self.clock = clock
        self.cache = ReadThroughCache(name: "budgets", timeToLive: .seconds(5), capacity: 10_000, reachable: { database.health.isReachable })
        self.database = database
        self.redis = redis
        self.logger = logger
    }

    func apply(_ invalidation: Invalidation) {
        switch invalidation {
        case .org(let id): cache.remove(id)
        case .all: cache.expireAll()
        default: break
        }
    }

    /// The org's budgets, cached for a few seconds (dropped on a budget change notice; the last
    /// known ones kept while PostgreSQL does not answer).
    private func budgets(orgID: UUID) async throws -> [BudgetRow] {
        let database = self.database
        return try await cache.value(for: orgID) {
            try await database.client.query(
                "SELECT id, scope, scope_id, period, cap_micros, alert_threshold_percent FROM budgets WHERE org_id = \(orgID)", logger: database.logger
            ).allRows(decoding: (UUID, String, UUID?, String, Int64, Int).self).map { row in
                BudgetRow(orgID: orgID, id: row.0, scope: row.1, scopeID: row.2, period: BudgetPeriod(rawValue: row.3) ?? .run, capMicros: row.4,
                          alertThresholdPercent: row.5)
            }
        } ?? []
    }

    /// The budgets a call of `principal` in `runID` draws on.
    func applicable(principal: AgentPrincipal, runID: UUID, now: Date = Date()) async throws -> [ApplicableBudget] {
        try await budgets(orgID: principal.orgID).compactMap { row in
            let applies = switch row.scope {
            case "org": true
            case "team": row.scopeID != nil && row.scopeID == principal.teamID
            case "agent": row.scopeID == principal.agentID
            case "run": row.scopeID == nil || row.scopeID == principal.agentID
            default: false
            }
            guard applies else { return nil }
            let start = row.period.start(of: now)
            return ApplicableBudget(
                budget: row, key: BudgetCounterKey.key(prefix: row.keyPrefix, periodStart: start, runID: start == nil ? runID : nil),
                periodStart: start, resetsAt: row.period.end(of: now))
        }
    }

    /// What a budget's window has durably spent — the seed of a counter Redis does not have (a new
    /// window, or Redis restarted without its data): `budget_spend` plus what this process settled
    /// but has not written yet for day and month windows, the run's own cost for run budgets.
    func durableSpend(of budget: ApplicableBudget, orgID: UUID, runID: UUID, unwritten: BudgetSpendRecorder) async throws -> Int64 {
        guard let start = budget.periodStart else {
            return try await database.query("SELECT cost_micros FROM runs WHERE id = \(runID)") { try await $0.first(decoding: Int64.self) } ?? 0
        }
        let written = try await database.query("SELECT spent_micros FROM budget_spend WHERE budget_id = \(budget.id) AND period_start = \(start)") {
            try await $0.first(decoding: Int64.self)
        } ?? 0
        return written + unwritten.unwritten(for: .init(orgID: orgID, budgetID: budget.id, periodStart: start))
    }

    /// How many budget counters this process holds (without Redis), lapsed ones not yet swept included.
    var localCount: Int { local.withLock { $0.count } }

    /// How long a budget's counter outlives its window (so a late settle still finds it).
    static func counterLifetime(_ budget: ApplicableBudget, now: Date) -> Int {
        Int(max(budget.resetsAt?.timeIntervalSince(now) ?? 86_400, 60)) + 3600
    }

    /// Reserves `amount` against every budget in process, or says which one it would cross (with
    /// Redis the preflight script does this, together with the call's other counters). Nil when a
    /// budget has no live counter and its seed is unknown: the caller reads the durable spend and
    /// asks again, as the script asks for it. A counter lives as long as its Redis twin would, and
    /// at least as long as the leases it holds; then it is dropped, so a single node does not keep
    /// one counter per run it ever served.
    func reserveInProcess(_ amount: Int64, on budgets: [ApplicableBudget], seeds: [Int64?], id: UUID, lease: Duration) -> Result<BudgetHold, BudgetRefusal>? {
        guard !budgets.isEmpty else { return .success(.none) }
        let now = clock()
        let date = Date()
        return local.withLock { counters in
            counters.sweepIfDue(now: now)
            var entries: [LocalCounter] = []
            entries.reserveCapacity(budgets.count)
            for (budget, seed) in zip(budgets, seeds) {
                let lifetime = Duration.seconds(Self.counterLifetime(budget, now: date))
                guard var entry = counters.live(budget.key, now: now) ?? seed.map({ LocalCounter(spent: $0, expires: now + lifetime) }) else {
                    return nil
                }
                entry.expireLeases(now: now)
                // Kept even when a budget refuses: the seed and the released leases (as the script keeps them).
                counters.set(budget.key, entry)
                if entry.spent + entry.reserved + amount > budget.capMicros {
                    return .failure(BudgetRefusal(budget: budget, spent: entry.spent, reserved: entry.reserved, amount: amount))
                }
                entry.reserved += amount
                entry.leases[id] = (amount, now + lease)
                entry.expires = now + max(lifetime, lease)
                entries.append(entry)
            }
            for (budget, entry) in zip(budgets, entries) { counters.set(budget.key, entry) }
            return .success(BudgetHold(budgets: budgets, reserved: amount, id: id))
        }
    }

    /// A budget line this call crossed: its alert threshold, or the cap itself.
    enum Crossing: Sendable {
        case threshold(ApplicableBudget)
        case exceeded(ApplicableBudget)
    }

    /// A hold to settle with its call's actual cost (0 releases it).
    struct Settlement: Sendable {
        let hold: BudgetHold
        let actual: Int64
    }

    // Settles holds one after another: KEYS are their budgets' counters, hold by hold; ARGV, per hold,
    // its budget count n, reservation id, actual cost and amount reserved, then its n alert
    // thresholds and its n caps. The hold is a field of each counter (`Preflight`); one whose lease
    // already ran out was released by then: only what is still held is released (never twice). A
    // counter Redis no longer has (lost, or expired) is not recreated here: the next call seeds it
    // from the durable spend, which this call's cost joins. Reply: per hold and budget, the lines
    // crossed (1 threshold, 2 cap). Many holds in one script (`BudgetSettlements`): what a script
    // costs Redis besides its commands (arguments into Lua, the call, the reply) is paid once for
    // them (callgrind on redis-server, a governed call's two scripts: 374 K → 356 K instructions a
    // call at 8 holds a settle).
    private static let settleScript = RedisScript("""
        local out, k, a = {}, 0, 1
        while a <= #ARGV do
          local n, hold, actual, held = ARGV[a] + 0, '\(Preflight.holdFieldPrefix)' .. ARGV[a + 1], ARGV[a + 2], ARGV[a + 3] + 0
          -- Amounts go to Redis as the strings they came as (a Lua number is formatted with printf's float path).
          local release = held > 0 and '-' .. ARGV[a + 3] or string.format('%d', -held)
          for i = 1, n do
            local key = KEYS[k + i]
            local flags = 0
            local present = redis.call('HDEL', key, hold) == 1
            if present and held ~= 0 then redis.call('HINCRBY', key, 'reserved', release) end
            if present or redis.call('EXISTS', key) == 1 then
              local spent = redis.call('HINCRBY', key, 'spent', actual)
              if spent >= ARGV[a + 3 + i] + 0 and redis.call('HSETNX', key, 'threshold_alerted', '1') == 1 then flags = flags + 1 end
              if spent >= ARGV[a + 3 + n + i] + 0 and redis.call('HSETNX', key, 'exceeded_alerted', '1') == 1 then flags = flags + 2 end
            end
            out[#out + 1] = flags
          end
          k, a = k + n, a + 4 + 2 * n
        end
        return out
        """)

    /// Settles a hold with the actual cost (0 releases it); returns the lines this call crossed,
    /// each once per window (the counter remembers it alerted).
    func settle(_ hold: BudgetHold, actual: Int64) async -> [Crossing] {
        await settle([Settlement(hold: hold, actual: actual)]).first ?? []
    }

    /// Settles holds of ONE org (their keys share its hash tag, so one script may touch them all on
    /// Redis Cluster) in one atomic step; returns each one's crossings, in order.
    func settle(_ settlements: [Settlement]) async -> [[Crossing]] {
        let thresholds = settlements.map { settlement in
            settlement.hold.budgets.map { $0.capMicros * Int64($0.alertThresholdPercent) / 100 }
        }
        var flags: [Int] = []
        if let redis {
            let keyCount = settlements.reduce(0) { $0 + $1.hold.budgets.count }
            guard keyCount > 0 else { return settlements.map { _ in [] } }
            do {
                let reply = try await redis.eval(Self.settleScript, keyCount: keyCount, capacity: 192 * keyCount + 96 * settlements.count) { command in
                    for settlement in settlements {
                        for budget in settlement.hold.budgets { command.append(budget.key) }
                    }
                    for (settlement, thresholds) in zip(settlements, thresholds) where !settlement.hold.budgets.isEmpty {
                        command.append(settlement.hold.budgets.count)
                        command.append(settlement.hold.id.lowercasedString)
                        command.append(settlement.actual)
                        command.append(settlement.hold.reserved)
                        for threshold in thresholds { command.append(threshold) }
                        for budget in settlement.hold.budgets { command.append(budget.capMicros) }
                    }
                }
                flags = reply.array?.compactMap(\.int) ?? []
            } catch {
                // The reservations are released when their leases run out; the durable spend is still written.
                logger.error("settling budget reservations failed", metadata: ["holds": "\(settlements.count)", "error": "\(String(reflecting: error))"])
                return settlements.map { _ in [] }
            }
        } else {
            let now = clock()
            flags = local.withLock { counters in
                zip(settlements, thresholds).flatMap { settlement, thresholds in
                    zip(settlement.hold.budgets, thresholds).map { budget, threshold in
                        // A counter that lapsed is not recreated (as with Redis): the next call seeds it
                        // from the durable spend, which this call's cost joins.
                        guard var entry = counters.live(budget.key, now: now) else { return 0 }
                        if let lease = entry.leases.removeValue(forKey: settlement.hold.id) { entry.reserved -= lease.amount }
                        entry.spent += settlement.actual
                        var crossed = 0
                        if entry.spent >= threshold, entry.alerted & 1 == 0 { crossed += 1 }
                        if entry.spent >= budget.capMicros, entry.alerted & 2 == 0 { crossed += 2 }
                        entry.alerted |= crossed
                        counters.set(budget.key, entry)
                        return crossed
                    }
                }
            }
        }
        // The flags, hold by hold (a short reply leaves the rest uncrossed).
        var next = flags.makeIterator()
        return settlements.map { settlement in
            settlement.hold.budgets.flatMap { budget -> [Crossing] in
                let flag = next.next() ?? 0
                return (flag & 1 != 0 ? [.threshold(budget)] : []) + (flag & 2 != 0 ? [.exceeded(budget)] : [])
            }
        }
    }
}

/// A call that would cross a budget.
struct BudgetRefusal: Error, Sendable {
    let budget: ApplicableBudget
    let spent: Int64
    let reserved: Int64
    let amount: Int64

    var error: RungateError {
        let usd = { (micros: Int64) in String(format: "%.6f", Double(micros) / 1_000_000) }
        var details: [String: JSONValue] = [
            "budget_id": .string(budget.id.lowercasedString), "scope": .string(budget.scope),
            "period": .string(budget.period.rawValue), "cap_micros": .number(Double(budget.capMicros)),
            "spent_micros": .number(Double(spent)), "reserved_micros": .number(Double(reserved)),
            "this_call_reserve_micros": .number(Double(amount)),
        ]
        if let scopeID = budget.scopeID { details["scope_id"] = .string(scopeID.lowercasedString) }
        if let resets = budget.resetsAt { details["resets_at"] = .string(resets.formatted(.iso8601)) }
        let reset = budget.resetsAt.map { " It resets at \($0.formatted(.iso8601))." } ?? ""
        return RungateError(
            HTTPResponse.Status(code: 402), code: "budget_exceeded",
            message: "This call could cost up to $\(usd(amount)), which would cross the \(budget.scope) budget of $\(usd(budget.capMicros)) per \(budget.period.rawValue) ($\(usd(spent)) spent, $\(usd(reserved)) reserved by calls in flight).\(reset)",
            recovery: budget.period == .run
                ? "Start a new run, lower max_tokens, or ask an org admin to raise the cap."
                : "Wait for the reset, lower max_tokens, or ask an org admin to raise the cap.",
            rule: RuleMatch(rule: "budget.\(budget.scope)"), details: details)
    }
}
