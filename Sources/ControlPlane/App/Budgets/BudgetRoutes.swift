import Common
import Foundation
import Hummingbird
import PostgresNIO

/// A budget with its current window's spend, read from the counters the data plane uses.
public struct Budget: Codable, Sendable {
    public struct Spend: Codable, Sendable {
        public let periodStart: Date?
        public let periodEnd: Date?
        public let spentMicros: Int64
        public let reservedMicros: Int64
        /// Where the figures come from: `redis` (live counters) or `database` (durable spend only).
        public let source: String
    }

    public let id: UUID
    public let scope: String
    public let scopeId: UUID?
    public let period: BudgetPeriod
    public let capMicros: Int64
    public let alertThresholdPercent: Int
    public let createdAt: Date
    public let updatedAt: Date
    public var spend: Spend?
}

/// Budgets: caps in micro-dollars per org, team, agent, or per run (the default cap of each run),
/// over a run, a day or a month.
struct BudgetRoutes: RouteCollection {
    let services: ControlPlaneServices

    static let scopes = ["org", "team", "agent", "run"]

    var routes: [APIRoute] {
        [
            APIRoute(.get, "/api/orgs/{org}/budgets", access: .org(.budgetsRead), summary: "List budgets with their current spend", handler: list),
            APIRoute(.post, "/api/orgs/{org}/budgets", access: .org(.budgetsCreate),
                     summary: "Create a budget (scope org/team/agent/run, period run/day/month, cap in micro-dollars)", success: .created,
                     body: Schema.object([
                        "scope": ["type": "string", "enum": .array(Self.scopes.map { .string($0) })], "scope_id": Schema.nullable(Schema.uuid),
                        "period": ["type": "string", "enum": .array(BudgetPeriod.allCases.map { .string($0.rawValue) })],
                        "cap_micros": ["type": "integer", "minimum": 0], "alert_threshold_percent": Schema.integer(1, 100),
                     ], required: ["scope", "period", "cap_micros"]), handler: create),
            APIRoute(.get, "/api/orgs/{org}/budgets/{budget}", access: .org(.budgetsRead), summary: "Read a budget and its current spend", handler: read),
            APIRoute(.patch, "/api/orgs/{org}/budgets/{budget}", access: .org(.budgetsUpdate), summary: "Change a budget's cap or alert threshold",
                     body: Schema.object(["cap_micros": ["type": "integer", "minimum": 0], "alert_threshold_percent": Schema.integer(1, 100)]),
                     handler: update),
            APIRoute(.delete, "/api/orgs/{org}/budgets/{budget}", access: .org(.budgetsDelete), summary: "Delete a budget", success: .noContent,
                     handler: delete),
            APIRoute(.post, "/api/orgs/{org}/budgets/{budget}/reset", access: .org(.budgetsUpdate),
                     summary: "Reset the current window's spend to zero (reservations of calls in flight are kept)", handler: reset),
        ]
    }

    struct CreateBody: Decodable {
        let scope: String
        let scopeId: UUID?
        let period: BudgetPeriod
        let capMicros: Int64
        let alertThresholdPercent: Int?
    }

    @Sendable func list(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let budgets = try await services.inOrg(request, context) { tx in
            var budgets = try await select(nil, tx)
            for index in budgets.indices { budgets[index].spend = try await spend(of: budgets[index], tx) }
            return budgets
        }
        return try APIJSON.response(.ok, ListResponse(budgets))
    }

    @Sendable func read(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("budget", "The budget")
        let budget = try await services.inOrg(request, context) { tx in
            var budget = try await existing(id, tx)
            budget.spend = try await spend(of: budget, tx)
            return budget
        }
        return try APIJSON.response(.ok, budget)
    }

    @Sendable func create(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let body = try await APIJSON.decode(CreateBody.self, from: request)
        guard Self.scopes.contains(body.scope) else { throw RungateError.invalidField("scope", "must be one of \(Self.scopes.joined(separator: ", "))") }
        guard body.capMicros >= 0 else { throw RungateError.invalidField("cap_micros", "cannot be negative") }
        if let percent = body.alertThresholdPercent, !(1...100).contains(percent) { throw RungateError.invalidField("alert_threshold_percent", "must be between 1 and 100") }
        switch (body.scope, body.scopeId) {
        case ("org", .some): throw RungateError.invalidField("scope_id", "must be absent for an org budget")
        case ("team", nil), ("agent", nil): throw RungateError.invalidField("scope_id", "names the \(body.scope) this budget caps")
        default: break
        }
        if body.scope == "run", body.period != .run { throw RungateError.invalidField("period", "must be `run` for a per-run cap") }
        let budget = try await services.inOrg(request, context) { tx in
            if let scopeID = body.scopeId {
                let table = body.scope == "team" ? "teams" : "agents"
                let exists = try await tx.connection.query(
                    PostgresQuery(unsafeSQL: "SELECT EXISTS (SELECT 1 FROM \(table) WHERE org_id = rungate_current_org() AND id = $1)",
                                  binds: { var binds = PostgresBindings(); binds.append(scopeID); return binds }()),
                    logger: tx.logger).first(decoding: Bool.self) ?? false
                guard exists else { throw RungateError.invalidField("scope_id", "names no \(body.scope) of this organisation") }
            }
            guard let id = try await tx.connection.query(
                """
                INSERT INTO budgets (org_id, scope, scope_id, period, cap_micros, alert_threshold_percent)
                SELECT rungate_current_org(), \(body.scope), \(body.scopeId), \(body.period.rawValue), \(body.capMicros),
                       COALESCE(\(body.alertThresholdPercent), (SELECT alert_threshold_percent FROM org_settings WHERE org_id = rungate_current_org()), 80)
                ON CONFLICT DO NOTHING RETURNING id
                """, logger: tx.logger
            ).first(decoding: UUID.self) else {
                throw RungateError(.conflict, code: "budget_exists", message: "A budget for this scope and period already exists.",
                                   recovery: "Change its cap instead (PATCH …/budgets/{budget}).")
            }
            let budget = try await existing(id, tx)
            try await tx.record(AuditEvent("budgets.create", target: "budget", id: id, after: APIJSON.tree(budget)))
            // Data planes cache the org's budgets for a few seconds; a new cap applies at once.
            try await tx.notify(.org(tx.orgID))
            return budget
        }
        return try APIJSON.response(.created, budget)
    }

    @Sendable func update(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("budget", "The budget")
        let patch = try await PatchBody.decode(from: request, allowed: ["cap_micros", "alert_threshold_percent"])
        let cap = try patch.integer("cap_micros"), percent = try patch.integer("alert_threshold_percent")
        if case .value(let cap) = cap, cap < 0 { throw RungateError.invalidField("cap_micros", "cannot be negative") }
        if case .value(let percent) = percent, !(1...100).contains(percent) { throw RungateError.invalidField("alert_threshold_percent", "must be between 1 and 100") }
        let budget = try await services.inOrg(request, context) { tx in
            let before = try await existing(id, tx)
            let newCap = cap.applied(to: Int(before.capMicros)) ?? Int(before.capMicros)
            let newPercent = percent.applied(to: before.alertThresholdPercent) ?? before.alertThresholdPercent
            try await tx.connection.query(
                """
                UPDATE budgets SET cap_micros = \(Int64(newCap)), alert_threshold_percent = \(newPercent), updated_at = now()
                WHERE org_id = rungate_current_org() AND id = \(id)
                """, logger: tx.logger)
            let after = try await existing(id, tx)
            try await tx.record(AuditEvent("budgets.update", target: "budget", id: id, before: APIJSON.tree(before), after: APIJSON.tree(after)))
            try await tx.notify(.org(tx.orgID))
            return after
        }
        return try APIJSON.response(.ok, budget)
    }

    @Sendable func delete(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("budget", "The budget")
        return try await services.deleteAudited(request, context, action: "budgets.delete", target: "budget", id: id,
                                                find: { tx in try await existing(id, tx) }) { tx, _ in
            try await tx.connection.query("DELETE FROM budgets WHERE org_id = rungate_current_org() AND id = \(id)", logger: tx.logger)
            try await tx.notify(.org(tx.orgID))
        }
    }

    // The window's live counter, if Redis has it, starts again from nothing spent and alerts again at
    // its lines (the reservations of calls in flight stay). One Redis does not have is left alone:
    // the next call seeds it from the durable spend, now 0 (created here it would have no expiry).
    private static let resetScript = RedisScript("""
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        redis.call('HSET', KEYS[1], 'spent', '0')
        redis.call('HDEL', KEYS[1], 'threshold_alerted', 'exceeded_alerted')
        return 1
        """)

    @Sendable func reset(_ request: Request, _ context: ControlRequestContext) async throws -> Response {
        let id = try context.id("budget", "The budget")
        let budget = try await services.inOrg(request, context) { tx in
            var before = try await existing(id, tx)
            before.spend = try await spend(of: before, tx)
            let start = before.period.start(of: Date())
            if let start {
                try await tx.connection.query(
                    """
                    UPDATE budget_spend SET spent_micros = 0, threshold_alerted_at = NULL, exceeded_alerted_at = NULL, updated_at = now()
                    WHERE org_id = rungate_current_org() AND budget_id = \(id) AND period_start = \(start)
                    """, logger: tx.logger)
                if let redis = services.redis {
                    do {
                        _ = try await redis.eval(Self.resetScript, keys: [BudgetCounterKey.key(orgID: tx.orgID, budgetID: id, periodStart: start)], arguments: [])
                    } catch {
                        throw RungateError.dependencyUnavailable("redis")
                    }
                }
            }
            try await tx.record(AuditEvent("budgets.reset", target: "budget", id: id, before: APIJSON.tree(before.spend),
                                           after: ["spent_micros": 0, "period_start": start.map { .string(ISO8601DateFormatter().string(from: $0)) } ?? .null]))
            var after = before
            after.spend = try await spend(of: before, tx)
            return after
        }
        return try APIJSON.response(.ok, budget)
    }

    private func select(_ id: UUID?, _ tx: OrgTransaction) async throws -> [Budget] {
        try await tx.connection.query(
            """
            SELECT b.id, b.scope, b.scope_id, b.period, b.cap_micros, b.alert_threshold_percent, b.created_at, b.updated_at
            FROM budgets b WHERE b.org_id = rungate_current_org() AND (\(id)::uuid IS NULL OR b.id = \(id))
            ORDER BY b.scope, b.period, b.created_at
            """, logger: tx.logger
        ).allRows(decoding: (UUID, String, UUID?, String, Int64, Int, Date, Date).self).map { row in
            Budget(id: row.0, scope: row.1, scopeId: row.2, period: BudgetPeriod(rawValue: row.3) ?? .run, capMicros: row.4,
                   alertThresholdPercent: row.5, createdAt: row.6, updatedAt: row.7, spend: nil)
        }
    }

    private func existing(_ id: UUID, _ tx: OrgTransaction) async throws -> Budget {
        guard let budget = try await select(id, tx).first else { throw RungateError.notFound("The budget") }
        return budget
    }

    /// The current window's spend: the live Redis counter when configured and present, else the
    /// durable row (no call has used the window yet, or Redis lost the counter: the next call seeds
    /// it from that row).
    private func spend(of budget: Budget, _ tx: OrgTransaction) async throws -> Budget.Spend? {
        let now = Date()
        guard let start = budget.period.start(of: now) else { return nil }
        if let redis = services.redis {
            let values: [RedisValue]
            do {
                values = try await redis.send("HMGET", BudgetCounterKey.key(orgID: tx.orgID, budgetID: budget.id, periodStart: start), "spent", "reserved")
                    .array ?? []
            } catch {
                throw RungateError.dependencyUnavailable("redis")
            }
            if let spent = values.first?.string.flatMap({ Int64($0) }) {
                let reserved = values.dropFirst().first?.string.flatMap { Int64($0) } ?? 0
                return .init(periodStart: start, periodEnd: budget.period.end(of: now), spentMicros: spent, reservedMicros: reserved, source: "redis")
            }
        }
        let spent = try await tx.connection.query(
            "SELECT spent_micros FROM budget_spend WHERE budget_id = \(budget.id) AND period_start = \(start)", logger: tx.logger
        ).first(decoding: Int64.self) ?? 0
        return .init(periodStart: start, periodEnd: budget.period.end(of: now), spentMicros: spent, reservedMicros: 0, source: "database")
    }
}
