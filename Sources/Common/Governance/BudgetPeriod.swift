import Foundation

/// The window a budget's spend accumulates over. Day and month windows start at UTC midnight and
/// on the first of the month; `run` budgets apply to each run separately (no shared window).
public enum BudgetPeriod: String, Sendable, Codable, CaseIterable {
    case run, day, month

    /// The start of the window holding `date` (nil for `run`).
    public func start(of date: Date) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        switch self {
        case .run: return nil
        case .day: return calendar.startOfDay(for: date)
        case .month: return calendar.date(from: calendar.dateComponents([.year, .month], from: date))
        }
    }

    /// When the window holding `date` ends (nil for `run`).
    public func end(of date: Date) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard let start = start(of: date) else { return nil }
        return calendar.date(byAdding: self == .day ? .day : .month, value: 1, to: start)
    }
}

/// Where a budget's live counters are in Redis: one hash per budget and window, fields `spent` and
/// `reserved` in micro-dollars. The data plane reserves and settles there; the control plane reads
/// and resets the same keys; Postgres `budget_spend` keeps the durable spend. Keys carry the org's
/// hash tag (`{org_id}`), so one script's keys always live on one Redis Cluster slot.
public enum BudgetCounterKey {
    public static func key(orgID: UUID, budgetID: UUID, periodStart: Date?, runID: UUID? = nil) -> String {
        let window = periodStart.map { String(Int($0.timeIntervalSince1970)) } ?? "run:\(runID?.lowercasedString ?? "-")"
        return "rungate:{\(orgID.lowercasedString)}:budget:\(budgetID.lowercasedString):\(window)"
    }

    /// The sorted set of a counter's reservation leases (member: reservation id, score: expiry in
    /// ms): a reservation whose data plane died is released when its lease runs out.
    public static func leases(of key: String) -> String { key + ":leases" }
}
