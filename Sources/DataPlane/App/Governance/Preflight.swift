import Common
import Foundation

/// The counters a call must clear before it is forwarded — its loop counter, its rate-limit
/// windows and its budget reservations — checked and charged in ONE atomic step: one Redis round
/// trip on the hot path instead of three. Every key carries the org's hash tag, so the script runs
/// unchanged on Redis Cluster. Without Redis the same decisions are taken in process.
struct Preflight: Sendable {
    let redis: RedisClient?
    let counters: GovernanceCounters
    let budgets: BudgetGuard
    /// Spend settled here but not yet written: part of a counter's seed.
    let spend: BudgetSpendRecorder

    /// What one call is checked against.
    struct Plan: Sendable {
        /// The run's loop counter for this request's fingerprint, when the policy detects loops.
        var loop: (key: String, windowSeconds: Int, maxRepeats: Int)?
        /// Rate-limit windows (one minute each), and the minute they count (their keys name it):
        /// they reset when it ends.
        var limits: [GovernanceCounters.Limit] = []
        var rateWindowMinute = Int(Date().timeIntervalSince1970) / Preflight.rateWindowSeconds
        var budgets: [ApplicableBudget] = []
        /// The call's worst-case cost, reserved on every budget.
        var reserve: Int64 = 0
        /// The reservation's id, and how long it holds if its call never settles (a data plane
        /// killed mid-call): longer than any call may take.
        var reservationID = UUID.random()
        var lease: Duration = .seconds(660)
        /// The run and org the call belongs to, and what each budget's counter starts from when it
        /// does not exist yet (nil: not known yet; read from Postgres only if the counter is missing).
        var runID = UUID.random()
        var orgID = UUID.random()
        var seeds: [Int64?] = []

        var isEmpty: Bool { loop == nil && limits.isEmpty && budgets.isEmpty }
    }

    enum Outcome: Sendable {
        /// Cleared: the tightest rate-limit window (nil without limits) and the budget hold.
        case cleared(GovernanceCounters.Decision?, BudgetHold)
        /// The same request seen `seen` times in the loop window.
        case loop(seen: Int)
        case rateLimited(GovernanceCounters.Decision)
        case overBudget(BudgetRefusal)
    }

    static let rateWindowSeconds = 60
    /// The member an earlier release's holds set keeps (scored +inf: never due, never a call's hold).
    static let openHoldsMember = "open"
    /// A hold's field in its counter's hash: this prefix and the reservation id.
    static let holdFieldPrefix = "hold:"

    // KEYS: [loop key] rate-limit keys… then per budget its counter and the holds set an earlier
    //       release kept beside it (`BudgetCounterKey.holds`).
    // ARGV: has_loop, loop_window, loop_max, n_limits, rate_window, n_budgets, reserve, reservation
    //       id, lease ms, then per limit (ceiling, cost), then per budget (cap, ttl, seed; -1 unknown).
    // A budget counter that does not exist (a new window, or Redis lost its data) starts from the
    // durable spend: when its seed is unknown the script asks for it ({4, index}) before touching
    // anything. A call's hold is a field of the counter's hash, `hold:<id>` = `<amount>:<lease end ms>`.
    // Reply: {0, tightest, remaining} cleared · {1, seen} loop · {2, index, remaining} rate limited ·
    //        {3, index, spent, reserved} over budget. Nothing but the loop counter is charged unless
    //        every check passes: a window charged before a later check refuses is refunded in the
    //        same atomic step.
    // Every `redis.call` costs Redis a few microseconds beyond the command itself (arguments and the
    // reply cross into Lua; a write to a key ~3–4 µs on the benchmark host), more than most of these
    // commands take, so the common call makes few:
    // - one HMGET per budget reads the counter's existence, spend, reservations and two times:
    //   `sweep_at`, no later than the end of any live hold's lease (holds are searched for ones whose
    //   lease ran out — their data plane died — only once it has passed, so no decision counts a
    //   dead hold), and `renew_at`, when the counter's expiry is set again (half its lifetime: a day
    //   or month window's counter keeps the same expiry, a run's lives 12.5–25 h past its last call);
    // - a reservation is one HSET per budget: the amount reserved and the hold together, in the one
    //   key (a hold in a set of its own cost a ZADD per budget, and a new run's set its own expiry);
    // - a fresh counter drops the holds set of the counter Redis lost before it, if an earlier release
    //   left one; sweeps release what such a set holds too, so releases can run side by side;
    // - a loop fingerprint is usually new: SET NX EX starts its window in one call;
    // - no window's TTL is read: a window resets when the minute its key names ends.
    // Numbers go to `redis.call` as the strings they came as (ARGV) or formatted as integers: Lua turns
    // a number into a string with `%.14g`, the float path of `printf` (~5 % of Redis's time once).
    // Strings become numbers by arithmetic (`ARGV[i] + 0`): `tonumber` runs `strtod` twice (to check,
    // then to convert), ~7 % of Redis's instructions for a governed call's two scripts. `tonumber`
    // stays where a value may be missing or malformed (the holds a sweep parses).
    private static let script = RedisScript("""
        local nl, nb, amount = ARGV[4] + 0, ARGV[6] + 0, ARGV[7] + 0
        local k = 1
        if ARGV[1] == '1' then k = 2 end
        local a = 10
        local b = a + 2 * nl
        local spent, reserved, sweep, renew, fresh = {}, {}, {}, {}, {}
        for i = 0, nb - 1 do
          local fields = redis.call('HMGET', KEYS[k + nl + 2 * i], 'spent', 'reserved', 'sweep_at', 'renew_at')
          if fields[1] then
            spent[i], reserved[i] = fields[1] + 0, (fields[2] or 0) + 0
            sweep[i], renew[i] = (fields[3] or 0) + 0, (fields[4] or 0) + 0
          elseif ARGV[b + 3 * i + 2] == '-1' then
            return {4, i}
          else
            fresh[i] = true
          end
        end
        if ARGV[1] == '1' then
          local seen = 1
          if not redis.call('SET', KEYS[1], '1', 'EX', ARGV[2], 'NX') then seen = redis.call('INCR', KEYS[1]) end
          if seen > ARGV[3] + 0 then return {1, seen} end
        end
        local charged = 0
        local function refund()
          for j = 0, charged - 1 do
            local cost = ARGV[a + 2 * j + 1] + 0
            if cost > 0 then redis.call('DECRBY', KEYS[k + j], cost) end
          end
        end
        local tightest, least = 0, -1
        for i = 0, nl - 1 do
          local key = KEYS[k + i]
          local ceiling, cost = ARGV[a + 2 * i] + 0, ARGV[a + 2 * i + 1] + 0
          local used
          if cost > 0 then
            used = redis.call('INCRBY', key, ARGV[a + 2 * i + 1]) - cost
            if used == 0 then redis.call('EXPIRE', key, ARGV[5]) end
            charged = i + 1
          else
            used = (redis.call('GET', key) or 0) + 0
          end
          if used + cost > ceiling and not (cost == 0 and used < ceiling) then
            refund()
            return {2, i, math.max(ceiling - used, 0)}
          end
          local left = ceiling - used - cost
          if least < 0 or left < least then least = left; tightest = i end
        end
        if nb > 0 then
          local lease = ARGV[9] + 0
          local clock = redis.call('TIME')
          local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
          local function int(n) return string.format('%d', n) end
          -- When a counter with no live hold is next searched: the end of its lifetime from now.
          local function unheld(i) return now + ARGV[b + 3 * i + 1] * 1000 end
          -- Writes budget i's counter: `fields` (with `spent` from its seed for a fresh one, which
          -- holds nothing but this call's hold). Fresh and due counters get their expiry (a
          -- day-or-month window's is the same instant each time, a run's slides).
          local function store(i, fields)
            local key, set, ttl = KEYS[k + nl + 2 * i], KEYS[k + nl + 2 * i + 1], ARGV[b + 3 * i + 1]
            local renewing = fresh[i] or renew[i] <= now
            if fresh[i] then
              fields[#fields + 1], fields[#fields + 2] = 'spent', ARGV[b + 3 * i + 2]
              redis.call('DEL', set)
            end
            if renewing then fields[#fields + 1], fields[#fields + 2] = 'renew_at', int(now + ttl * 500) end
            redis.call('HSET', key, unpack(fields))
            if renewing then
              redis.call('EXPIRE', key, ttl)
              -- An earlier release's holds set lives as long as its counter (a no-op without one).
              if not fresh[i] then redis.call('EXPIRE', set, ttl) end
            end
          end
          for i = 0, nb - 1 do
            if fresh[i] then
              spent[i], reserved[i] = ARGV[b + 3 * i + 2] + 0, 0
            elseif sweep[i] <= now then
              local key, set = KEYS[k + nl + 2 * i], KEYS[k + nl + 2 * i + 1]
              local due, dead = unheld(i), {}
              local all = redis.call('HGETALL', key)
              for j = 1, #all, 2 do
                if string.sub(all[j], 1, \(holdFieldPrefix.utf8.count)) == '\(holdFieldPrefix)' then
                  local held, ends = string.match(all[j + 1], '^(%-?%d+):(%d+)$')
                  ends = tonumber(ends) or 0
                  if ends <= now then
                    reserved[i] = reserved[i] - (tonumber(held) or 0)
                    dead[#dead + 1] = all[j]
                  elseif ends < due then
                    due = ends
                  end
                end
              end
              for j = 1, #dead, 1000 do redis.call('HDEL', key, unpack(dead, j, math.min(j + 999, #dead))) end
              -- The holds an earlier release kept in a set beside the counter (`id:amount`, scored by
              -- the end of its lease), released the same way.
              local expired = redis.call('ZRANGEBYSCORE', set, '-inf', int(now))
              if #expired > 0 then
                for _, member in ipairs(expired) do
                  reserved[i] = reserved[i] - (tonumber(string.match(member, ':(%-?%d+)$')) or 0)
                end
                redis.call('ZREMRANGEBYSCORE', set, '-inf', int(now))
              end
              local first = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
              if first[1] and first[1] ~= '\(openHoldsMember)' and tonumber(first[2]) < due then due = tonumber(first[2]) end
              sweep[i] = due
              redis.call('HSET', key, 'reserved', int(reserved[i]), 'sweep_at', int(sweep[i]))
            end
            if spent[i] + reserved[i] + amount > ARGV[b + 3 * i] + 0 then
              for j = 0, i do
                if fresh[j] then store(j, {'sweep_at', int(unheld(j))}) end
              end
              refund()
              return {3, i, spent[i], reserved[i]}
            end
          end
          local expires = int(now + lease)
          local hold, value = '\(holdFieldPrefix)' .. ARGV[8], ARGV[7] .. ':' .. expires
          for i = 0, nb - 1 do
            local fields = {'reserved', int(reserved[i] + amount), hold, value}
            if fresh[i] or now + lease < sweep[i] then fields[5], fields[6] = 'sweep_at', expires end
            store(i, fields)
          end
        end
        return {0, tightest, math.max(least, 0)}
        """)

    func run(_ plan: Plan) async throws -> Outcome {
        guard !plan.isEmpty else { return .cleared(nil, .none) }
        var plan = plan
        if plan.seeds.count != plan.budgets.count { plan.seeds = Array(repeating: nil, count: plan.budgets.count) }
        guard let redis else { return try await runInProcess(plan) }
        // At most twice: the second time with the seeds the script asked for.
        for _ in 0..<2 {
            switch try await runScript(plan, on: redis) {
            case .some(let outcome): return outcome
            case .none: plan.seeds = try await seeded(plan)
            }
        }
        throw RedisError.server("the preflight script asked twice for the same budget's durable spend")
    }

    /// Seconds until the plan's rate-limit windows reset: the end of the minute they count, at least
    /// 1 (a call answered just after it ended retries into the next window). Not a counter's TTL,
    /// which runs a minute from the window's first call, past the minute's end.
    static func resetSeconds(_ plan: Plan, now: Date = Date()) -> Int {
        max((plan.rateWindowMinute + 1) * rateWindowSeconds - Int(now.timeIntervalSince1970), 1)
    }

    /// Every unknown seed, read from Postgres.
    private func seeded(_ plan: Plan) async throws -> [Int64?] {
        var seeds = plan.seeds
        for (index, budget) in plan.budgets.enumerated() where seeds[index] == nil {
            seeds[index] = try await budgets.durableSpend(of: budget, orgID: plan.orgID, runID: plan.runID, unwritten: spend)
        }
        return seeds
    }

    /// The script's outcome, or nil when it needs the durable spend of a counter Redis does not have.
    private func runScript(_ plan: Plan, on redis: RedisClient) async throws -> Outcome? {
        let now = Date()
        let keyCount = (plan.loop == nil ? 0 : 1) + plan.limits.count + 2 * plan.budgets.count
        let reply = try await redis.eval(Self.script, keyCount: keyCount) { command in
            if let loop = plan.loop { command.append(loop.key) }
            for limit in plan.limits { command.append(limit.key) }
            for budget in plan.budgets {
                command.append(budget.key)
                command.append(BudgetCounterKey.holds(of: budget.key))
            }
            command.append(plan.loop == nil ? 0 : 1)
            command.append(plan.loop?.windowSeconds ?? 0)
            command.append(plan.loop?.maxRepeats ?? 0)
            command.append(plan.limits.count)
            command.append(Self.rateWindowSeconds)
            command.append(plan.budgets.count)
            command.append(plan.reserve)
            command.append(plan.reservationID.lowercasedString)
            command.append(plan.lease.components.seconds * 1000)
            for limit in plan.limits {
                command.append(limit.ceiling)
                command.append(limit.cost)
            }
            for (budget, seed) in zip(plan.budgets, plan.seeds) {
                command.append(budget.capMicros)
                command.append(BudgetGuard.counterLifetime(budget, now: now))
                command.append(seed ?? -1)
            }
        }
        let values = reply.array?.compactMap(\.int) ?? []
        switch (values.first, values.count) {
        case (0, 3):
            let decision = GovernanceCounters.Decision(allowed: true, index: values[1], remaining: values[2], resetSeconds: Self.resetSeconds(plan))
            return .cleared(plan.limits.isEmpty ? nil : decision, BudgetHold(budgets: plan.budgets, reserved: plan.reserve, id: plan.reservationID))
        case (1, 2):
            return .loop(seen: values[1])
        case (2, 3):
            return .rateLimited(.init(allowed: false, index: values[1], remaining: values[2], resetSeconds: Self.resetSeconds(plan)))
        case (3, 4):
            return .overBudget(BudgetRefusal(budget: plan.budgets[values[1]], spent: Int64(values[2]), reserved: Int64(values[3]), amount: plan.reserve))
        case (4, 2):
            return nil
        default:
            throw RedisError.server("unexpected reply to the preflight script")
        }
    }

    /// The single-node path: the same checks in the same order; a rate-limit charge is refunded
    /// when a budget then refuses, as the script never charges it.
    private func runInProcess(_ plan: Plan) async throws -> Outcome {
        var plan = plan
        if let loop = plan.loop {
            let seen = try await counters.add(loop.key, window: loop.windowSeconds)
            if seen > loop.maxRepeats { return .loop(seen: seen) }
        }
        var decision: GovernanceCounters.Decision?
        if !plan.limits.isEmpty {
            let admitted = counters.admitInProcess(plan.limits, window: Self.rateWindowSeconds, resetSeconds: Self.resetSeconds(plan))
            guard admitted.allowed else { return .rateLimited(admitted) }
            decision = admitted
        }
        func refundLimits() async throws {
            for limit in plan.limits where limit.cost != 0 {
                _ = try await counters.add(limit.key, -limit.cost, window: Self.rateWindowSeconds)
            }
        }
        // At most twice: the second time with the seeds the reservation asked for (a window refunds
        // its charge when the call is refused, or when the durable spend cannot be read).
        for _ in 0..<2 {
            switch budgets.reserveInProcess(plan.reserve, on: plan.budgets, seeds: plan.seeds, id: plan.reservationID, lease: plan.lease) {
            case .success(let hold):
                return .cleared(decision, hold)
            case .failure(let refusal):
                try await refundLimits()
                return .overBudget(refusal)
            case nil:
                do {
                    plan.seeds = try await seeded(plan)
                } catch {
                    try await refundLimits()
                    throw error
                }
            }
        }
        preconditionFailure("a reservation with every seed known asked for one")
    }
}
