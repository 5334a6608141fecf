import Foundation

/// The window a budget's spend accumulates over. Day and month windows start at UTC midnight and
/// on the first of the month; `run` budgets apply to each run separately (no shared window).
public enum BudgetPeriod: String, Sendable, Codable, CaseIterable {
    case run, day, month

    /// The start of the window holding `date` (nil for `run`).
    public func start(of date: Date) -> Date? {
        switch self {
        case .run: return nil
        case .day: return Self.date(days: Self.days(of: date))
        case .month: return Self.firstOfMonth(holding: date, monthsLater: 0)
        }
    }

    /// When the window holding `date` ends (nil for `run`).
    public func end(of date: Date) -> Date? {
        switch self {
        case .run: return nil
        case .day: return Self.date(days: Self.days(of: date) + 1)
        case .month: return Self.firstOfMonth(holding: date, monthsLater: 1)
        }
    }

    // Calendar arithmetic by hand (proleptic Gregorian, UTC): every governed call computes its
    // budgets' windows, and Foundation's Calendar made a time zone and a calendar for each.

    private static func days(of date: Date) -> Int {
        Int((date.timeIntervalSince1970 / 86_400).rounded(.down))
    }

    private static func date(days: Int) -> Date {
        Date(timeIntervalSince1970: Double(days) * 86_400)
    }

    private static func firstOfMonth(holding date: Date, monthsLater: Int) -> Date {
        var (year, month) = civil(days: days(of: date))
        month += monthsLater
        if month > 12 { (year, month) = (year + 1, month - 12) }
        return Self.date(days: days(year: year, month: month, day: 1))
    }

    /// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
    private static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil year and month of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
    private static func civil(days: Int) -> (year: Int, month: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shifted = (5 * dayOfYear + 2) / 153
        let month = shifted < 10 ? shifted + 3 : shifted - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month)
    }
}

/// Where a budget's live counters are in Redis: one hash per budget and window, fields `spent` and
/// `reserved` in micro-dollars. The data plane reserves and settles there; the control plane reads
/// and resets the same keys; Postgres `budget_spend` keeps the durable spend. Keys carry the org's
/// hash tag (`{org_id}`), so one script's keys always live on one Redis Cluster slot.
public enum BudgetCounterKey {
    public static func key(orgID: UUID, budgetID: UUID, periodStart: Date?, runID: UUID? = nil) -> String {
        key(prefix: prefix(orgID: orgID, budgetID: budgetID), periodStart: periodStart, runID: runID)
    }

    /// The keys of a budget's counters up to their window: the data plane makes it once per budget
    /// it loads, not once per call and budget (two ids written out and interpolated each time).
    public static func prefix(orgID: UUID, budgetID: UUID) -> String {
        RedisKey.org(orgID, ["budget", .id(budgetID), ""])
    }

    /// The counter of the window starting at `periodStart`, or of `runID` for a run budget.
    public static func key(prefix: String, periodStart: Date?, runID: UUID? = nil) -> String {
        guard let periodStart else { return RedisKey.concatenating(.text(prefix), "run:", runID.map { .id($0) } ?? "-") }
        return RedisKey.concatenating(.text(prefix), .number(Int(periodStart.timeIntervalSince1970)))
    }

    /// The sorted set in which releases before this one kept a counter's reservations in flight
    /// (member `<reservation id>:<amount>`, score the lease's expiry in ms); they are now fields of
    /// the counter itself. The data plane still releases what such a set holds when its lease runs
    /// out, and drops it with a counter Redis lost, so both releases can run side by side during an
    /// upgrade: each settles only its own holds. (Earlier still, `:leases` kept members without the
    /// amount.)
    public static func holds(of key: String) -> String { key + ":holds" }
}
